package scan_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestCheckerWithClamd runs the archive inspection and real clamd on the
// samples that clamd alone lets through or judges differently.
func TestCheckerWithClamd(t *testing.T) {
	engine, err := clamd.New(clamd.Config{Address: testenv.ClamdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := &scan.Checker{Inspector: inspector(t, nil), Scanner: engine}
	eicar := testenv.ZipEntry{Name: "eicar.com", Data: testenv.EICAR()}
	for _, tc := range []struct {
		name string
		data []byte
		want scan.Result
	}{
		{"clean-zip", testenv.Zip(t, testenv.ZipEntry{Name: "a", Data: testenv.Random(1 << 20)}), scan.ResultClean},
		{"png", testenv.PNG(t, 32, 32), scan.ResultClean},
		{"eicar", testenv.EICAR(), scan.ResultInfected},
		{"eicar-nested-zip", testenv.NestedZip(t, 4, eicar), scan.ResultInfected},
		{"eicar-pdf", testenv.PDFWithAttachment(t, "eicar.com", testenv.EICAR()), scan.ResultInfected},
		{"zip-bomb-3GiB", testenv.ZipOfZeros(t, 3, 1<<30, nil), scan.ResultUnscannable},
		{"eicar-after-150MB-zeros", testenv.ZipOfZeros(t, 1, 150<<20, testenv.EICAR()), scan.ResultUnscannable},
		{"bomb-with-eicar-first", append([]byte{}, testenv.Zip(t, eicar, testenv.ZipEntry{Name: "z", Data: make([]byte, 60<<20)})...), scan.ResultInfected},
		{"nested-too-deep", testenv.NestedZip(t, 10, testenv.ZipEntry{Name: "a", Data: []byte("a")}), scan.ResultUnscannable},
		{"encrypted-zip", testenv.EncryptedZip(t, "s.txt", []byte("secret"), "pw"), scan.ResultUnscannable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.ScanAt(context.Background(), bytes.NewReader(tc.data), int64(len(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			if v.Result != tc.want {
				t.Errorf("%s %q (%s), want %s", v.Result, v.Signature, v.Reason, tc.want)
			}
			if v.Result == scan.ResultUnscannable && v.Reason == "" {
				t.Error("unscannable without a reason")
			}
			if v.Engine == "" {
				t.Error("verdict without engine")
			}
			alone, err := engine.Scan(context.Background(), bytes.NewReader(tc.data))
			t.Logf("%d bytes; with inspection: %s %s %s; clamd alone: %s %s (%v)", len(tc.data),
				v.Result, v.Signature, strings.TrimSpace(v.Reason), alone.Result, alone.Signature, err)
		})
	}
}
