package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// metric sums the samples of the named metric on the instance's admin
// listener whose labels contain every one of labels ("outcome=\"quota\"").
func metric(t *testing.T, in *instance, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(in.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// mediaBlobs counts the instance's stored media blobs (under media/).
func mediaBlobs(t *testing.T, in *instance) int {
	t.Helper()
	cfg, err := os.ReadFile(in.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^    bucket: (\S+)$`).FindSubmatch(cfg)
	if m == nil {
		t.Fatal("no bucket in the instance's config")
	}
	n := 0
	for obj := range testenv.S3Client(t).ListObjects(context.Background(), string(m[1]), minio.ListObjectsOptions{Prefix: "media/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
	}
	return n
}

// TestFederationRemoteQuotaAndRetention: B caches remote media under a
// quota that holds one of A's files but not two, and drops its copies 4s
// after the fetch. The second file is refused (502 M_TOO_LARGE, nothing
// stored) until retention has dropped the first; the first is then
// fetched from A, and scanned, again.
func TestFederationRemoteQuotaAndRetention(t *testing.T) {
	fa, fb := newFront(t), newFront(t)
	ca := caFile(t, fa)
	aliceA, bobB := "@alice:"+fa.name, "@bob:"+fb.name
	a := startNamed(t, newHomeserver(t, map[string]string{"alice-a": aliceA}), fa.name, fedYAML(fa.keyFile, ca, true, fb.name))
	b := startNamed(t, newHomeserver(t, map[string]string{"bob-b": bobB}), fb.name,
		fedYAML(fb.keyFile, ca, true, fa.name)+"  remote_quota: 150KiB\n  remote_retention: 4s\n")
	fa.proxyTo(t, a)
	fb.proxyTo(t, b)
	ctx := context.Background()
	viaB := func(id string) (int, []byte) {
		status, _, body := do(t, "GET", b.URL+"/_matrix/client/v1/media/download/"+fa.name+"/"+id+"?timeout_ms=30000", "bob-b", nil, nil)
		return status, body
	}
	upload := func(name string) ([]byte, string) {
		// Text (hex), not random bytes: those would look encrypted. 100 KiB.
		content := []byte(name + " " + hex.EncodeToString(testenv.Random(50<<10)))[:100<<10]
		up, err := a.client(t, aliceA, "alice-a").UploadBytesWithName(ctx, content, "text/plain", name+".txt")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.client(t, aliceA, "alice-a").DownloadBytes(ctx, up.ContentURI); err != nil {
			t.Fatalf("A does not serve its own upload: %v", err)
		}
		return content, up.ContentURI.FileID
	}
	first, firstID := upload("first")
	second, secondID := upload("second")

	start := fa.requests.Load()
	// B fetches the first file after this instant: the lower bound of its
	// retention below. (The instant after the download is no bound: the
	// download also waits for the scan, so it comes later than the fetch.)
	beforeFetch := time.Now()
	if status, body := viaB(firstID); status != 200 || !bytes.Equal(body, first) {
		t.Fatalf("first file: %d %.200s", status, body)
	}
	fetchedAt := time.Now()
	status, body := viaB(secondID)
	if code, _ := errcode(t, body); status != 502 || code != "M_TOO_LARGE" {
		t.Fatalf("second file over the quota: %d %s", status, body)
	}
	if time.Since(fetchedAt) > 3*time.Second {
		t.Fatal("the refusal came too late to tell the quota from the retention: the test's timing assumption broke")
	}
	if n := mediaBlobs(t, b); n != 1 {
		t.Fatalf("B stores %d media blobs after the refusal, want 1 (the first file)", n)
	}
	if n := metric(t, b, "mediarepo_remote_fetches_total", `outcome="quota"`); n != 1 {
		t.Fatalf("quota refusals counted: %v, want 1", n)
	}
	if n := fa.requests.Load() - start; n != 2 {
		t.Fatalf("A got %d federation requests, want 2", n)
	}
	scans := metric(t, b, "mediarepo_scan_verdicts_total", `result="clean"`, `source="scan"`)

	// Retention drops the first copy; its blob and its bytes go with it.
	deadline := time.Now().Add(30 * time.Second)
	for metric(t, b, "mediarepo_reconciler_actions_total", `action="remote_dropped"`) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the first copy was not dropped within 30s of its fetch\n%s", b.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if time.Since(beforeFetch) < 4*time.Second {
		t.Fatalf("dropped %s after the fetch began, before its retention of 4s", time.Since(beforeFetch))
	}
	if n := mediaBlobs(t, b); n != 0 {
		t.Fatalf("B stores %d media blobs after retention, want 0", n)
	}

	// The quota has room again: the second file is fetched now.
	if status, body := viaB(secondID); status != 200 || !bytes.Equal(body, second) {
		t.Fatalf("second file after retention freed the quota: %d %.200s", status, body)
	}
	// Wait for the second copy to be dropped too, so that the first fits.
	deadline = time.Now().Add(30 * time.Second)
	for metric(t, b, "mediarepo_reconciler_actions_total", `action="remote_dropped"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the second copy was not dropped within 30s\n%s", b.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	before := fa.requests.Load()
	if status, body := viaB(firstID); status != 200 || !bytes.Equal(body, first) {
		t.Fatalf("first file again: %d %.200s", status, body)
	}
	if n := fa.requests.Load() - before; n != 1 {
		t.Fatalf("the first file after its retention made %d federation requests, want 1 (fetched again)", n)
	}
	// The verdict is counted as it is stored, maybe a moment after the
	// download saw it.
	deadline = time.Now().Add(5 * time.Second)
	for n := metric(t, b, "mediarepo_scan_verdicts_total", `result="clean"`, `source="scan"`); n < scans+2; n = metric(t, b, "mediarepo_scan_verdicts_total", `result="clean"`, `source="scan"`) {
		if time.Now().After(deadline) {
			t.Fatalf("clean scans %v after two more fetches, want ≥ %v: the copies were not scanned again", n, scans+2)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
