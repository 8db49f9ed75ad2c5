package icap_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/icap"
	"github.com/mediarepo/mediarepo/internal/scan/scantest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// newScanner is configured as the README advises for c-icap: max_size at
// clamd's StreamMaxLength (c-icap answers content over clamd's limits with
// an empty body, not with a finding).
func newScanner(t testing.TB, url string) scan.Scanner {
	t.Helper()
	s, err := icap.New(icap.Config{URL: url, MaxSize: testenv.ClamdStreamMax(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the scanner suite against real c-icap (Debian's
// c-icap with virus_scan) in front of the test clamd: EICAR in its
// wrappings and every file of clamav-testfiles end infected, clean files
// clean, encrypted archives and content over clamd's limits unscannable,
// and a stopped or frozen c-icap gives no verdict.
func TestConformance(t *testing.T) {
	scantest.RunEngine(t, scantest.Engine{
		Name:      "C-ICAP",
		Addr:      testenv.ICAPURL(t),
		StreamMax: testenv.ClamdStreamMax(t),
		New:       newScanner,
		Private: func(t testing.TB) scantest.Instance {
			return testenv.StartCICAP(t, testenv.Getenv(t, testenv.EnvClamdSocket))
		},
	})
}

// TestClamdBehindDown: with the clamd behind c-icap stopped, c-icap
// answers but gives no verdict, and nothing is clean.
func TestClamdBehindDown(t *testing.T) {
	clamd := testenv.StartClamd(t)
	ci := testenv.StartCICAP(t, clamd.SocketAddr()[len("unix://"):])
	s := newScanner(t, ci.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if v, err := s.Scan(ctx, bytes.NewReader(testenv.EICAR())); err != nil || v.Result != scan.ResultInfected {
		t.Fatalf("EICAR with clamd running: %+v, %v", v, err)
	}
	clamd.Stop()
	for name, data := range map[string][]byte{"clean": []byte("clean text"), "eicar": testenv.EICAR(), "random": testenv.Random(1 << 20)} {
		v, err := s.Scan(ctx, bytes.NewReader(data))
		if !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("%s with clamd stopped behind c-icap: %+v, %v; want ErrUnavailable", name, v, err)
		}
	}
	clamd.Start()
	if v, err := s.Scan(ctx, bytes.NewReader(testenv.EICAR())); err != nil || v.Result != scan.ResultInfected {
		t.Fatalf("EICAR with clamd back: %+v, %v", v, err)
	}
}
