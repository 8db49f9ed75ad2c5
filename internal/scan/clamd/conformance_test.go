package clamd_test

import (
	"testing"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/scan/scantest"
)

func newScanner(t testing.TB, addr string) scan.Scanner {
	t.Helper()
	s, err := clamd.New(clamd.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceTCP(t *testing.T) {
	scantest.Run(t, scantest.TCP, newScanner)
}

func TestConformanceUnix(t *testing.T) {
	scantest.Run(t, scantest.Unix, newScanner)
}
