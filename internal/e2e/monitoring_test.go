package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/deploycheck"
)

// onFirstEvent are label-vector metrics that /metrics lists only after
// their first sample (a failure, by operation): the test checks that the
// code registers them instead.
var onFirstEvent = map[string]string{
	"mediarepo_store_errors_total":   "counted by operation on the first blob store failure",
	"mediarepo_catalog_errors_total": "counted by operation on the first catalog failure",
	"mediarepo_reports_failed_total": "counted by sink; exported once report sinks are configured",
	"mediarepo_reports_sent_total":   "counted by sink; exported once report sinks are configured",
}

// exportedFamilies lists the metric families on the instance's /metrics.
func exportedFamilies(t *testing.T, in *instance) map[string]bool {
	t.Helper()
	resp, err := http.Get(in.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fams := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fams
}

// registeredInSource reports whether a non-test Go file under internal/
// registers a metric of that name.
func registeredInSource(t *testing.T, name string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil || found || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && regexp.MustCompile(`Name:\s+"`+regexp.QuoteMeta(name)+`"`).Match(b) {
			found = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestMonitoringQueriesExportedMetrics: every metric the alert rules and
// the Grafana dashboard in deploy/monitoring query is one that mediarepo's
// /metrics exports after an upload, a clean verdict and an infected one.
func TestMonitoringQueriesExportedMetrics(t *testing.T) {
	names, err := deploycheck.MonitoringMetrics(filepath.Join("..", "..", "deploy", "monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), []byte("monitoring: a clean file"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+up.ContentURI.FileID+"?timeout_ms=20000", aliceToken, nil, nil); status != 200 {
		t.Fatalf("clean download: %d %s", status, body)
	}
	uploadEICAR(t, in, aliceToken)

	exported := exportedFamilies(t, in)
	for _, n := range names {
		switch {
		case exported[n]:
		case onFirstEvent[n] != "":
			if !registeredInSource(t, n) {
				t.Errorf("%s (%s) is registered nowhere in the code", n, onFirstEvent[n])
			}
		default:
			t.Errorf("deploy/monitoring queries %s, which /metrics does not export", n)
		}
	}
}
