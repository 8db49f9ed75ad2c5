package scan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/scan/icap"
	"github.com/mediarepo/mediarepo/internal/scan/scantest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// twoEngines is clamd and c-icap (in front of the same clamd) as one
// list; addr is "clamd-address|icap-url".
func twoEngines(t testing.TB, addr string) scan.Scanner {
	t.Helper()
	ca, ia, ok := strings.Cut(addr, "|")
	if !ok {
		t.Fatalf("address %q: want clamd|icap", addr)
	}
	c, err := clamd.New(clamd.Config{Address: ca})
	if err != nil {
		t.Fatal(err)
	}
	i, err := icap.New(icap.Config{URL: ia, MaxSize: testenv.ClamdStreamMax(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	e, err := scan.NewEngines(scan.PolicyAll, scan.Engine{Name: "clamd", Scanner: c}, scan.Engine{Name: "icap", Scanner: i})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// pair is a private clamd and a private c-icap in front of it.
type pair struct {
	c *testenv.Clamd
	i *testenv.CICAP
}

func (p pair) Addr() string { return p.c.Addr() + "|" + p.i.Addr() }
func (p pair) Start()       { p.c.Start(); p.i.Start() }
func (p pair) Stop()        { p.i.Stop(); p.c.Stop() }
func (p pair) Pause()       { p.c.Pause(); p.i.Pause() }
func (p pair) Resume()      { p.i.Resume(); p.c.Resume() }

// TestEnginesConformance runs the scanner suite against clamd and real
// c-icap as one list of engines (one read fanned out to both).
func TestEnginesConformance(t *testing.T) {
	scantest.RunEngine(t, scantest.Engine{
		Name:      "clamd+icap",
		Addr:      testenv.ClamdAddr(t) + "|" + testenv.ICAPURL(t),
		StreamMax: testenv.ClamdStreamMax(t),
		New:       twoEngines,
		Private: func(t testing.TB) scantest.Instance {
			c := testenv.StartClamd(t)
			return pair{c, testenv.StartCICAP(t, strings.TrimPrefix(c.SocketAddr(), "unix://"))}
		},
	})
}

// TestEnginesFindings: the verdict records each engine's result and
// version; one engine without a verdict (the clamd behind c-icap stopped)
// means no verdict (retry), never clean; one engine infected is enough.
func TestEnginesFindings(t *testing.T) {
	c := testenv.StartClamd(t)
	ci := testenv.StartCICAP(t, strings.TrimPrefix(c.SocketAddr(), "unix://"))
	shared := testenv.StartClamd(t) // a second clamd: stays up while c stops
	e := twoEnginesAt(t, shared.Addr(), ci.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	v, err := e.Scan(ctx, bytes.NewReader(testenv.EICAR()))
	if err != nil || v.Result != scan.ResultInfected || len(v.Engines) != 2 {
		t.Fatalf("EICAR: %+v, %v", v, err)
	}
	for _, ev := range v.Engines {
		if ev.Result != scan.ResultInfected || !strings.HasPrefix(ev.Signature, testenv.EICARSignature) || ev.Engine == "" || ev.EngineVersion == "" {
			t.Errorf("engine %s: %+v", ev.Name, ev)
		}
	}
	if v.Engines[1].Engine != "C-ICAP" || v.Engines[1].SignatureVersion == "" {
		t.Errorf("icap part without its ISTag: %+v", v.Engines[1])
	}
	v, err = e.Scan(ctx, bytes.NewReader(testenv.Random(1<<20)))
	if err != nil || !v.Clean() {
		t.Fatalf("random: %+v, %v", v, err)
	}

	// The clamd behind c-icap stops: the list gives no verdict.
	c.Stop()
	for name, data := range map[string][]byte{"clean": testenv.Random(300 << 10), "eicar-in-zip": testenv.Zip(t, testenv.ZipEntry{Name: "e", Data: testenv.EICAR()})} {
		v, err := e.Scan(ctx, bytes.NewReader(data))
		switch {
		case name == "clean" && !errors.Is(err, scan.ErrUnavailable):
			t.Errorf("clean content with one engine down: %+v, %v; want ErrUnavailable", v, err)
		case name == "eicar-in-zip" && (err != nil || v.Result != scan.ResultInfected):
			// The engine that works found it: infected wins over a failure.
			t.Errorf("EICAR with one engine down: %+v, %v; want infected", v, err)
		}
	}
	c.Start()
}

func twoEnginesAt(t testing.TB, clamdAddr, icapURL string) scan.Scanner {
	return twoEngines(t, clamdAddr+"|"+icapURL)
}

// TestEnginesReadOnce: the content is read once, whatever the number of
// engines, and a reader's error reaches the caller as it is.
func TestEnginesReadOnce(t *testing.T) {
	e := twoEngines(t, testenv.ClamdAddr(t)+"|"+testenv.ICAPURL(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := testenv.Random(3 << 20)
	cr := &countingReader{r: bytes.NewReader(data)}
	if v, err := e.Scan(ctx, cr); err != nil || !v.Clean() {
		t.Fatalf("Scan: %+v, %v", v, err)
	}
	if cr.n != int64(len(data)) {
		t.Errorf("read %d bytes for %d bytes of content and two engines, want each byte once", cr.n, len(data))
	}
	boom := errors.New("disk on fire")
	_, err := e.Scan(ctx, io.MultiReader(bytes.NewReader(data[:1<<20]), iotestErr{boom}))
	if !errors.Is(err, boom) || errors.Is(err, scan.ErrUnavailable) {
		t.Errorf("Scan of a failing reader: %v, want the reader's error", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }
