// Package scantest is the conformance suite that every scan.Scanner
// backend passes against a real engine: the clamd backend runs it over TCP
// and over the unix socket of the test clamd, the ICAP backend against the
// test c-icap in front of that clamd (`make test` starts both).
package scantest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// Transport says which of clamd's listeners the suite uses.
type Transport string

// The transports of the test clamd.
const (
	TCP  Transport = "tcp"
	Unix Transport = "unix"
)

// NewScanner returns the scanner under test for an engine's address
// (clamd: "tcp://host:port" or "unix:///path"; ICAP: the service URL).
type NewScanner func(t testing.TB, addr string) scan.Scanner

// Instance is a private engine instance that a test may stop, restart and
// freeze (testenv.Clamd, testenv.CICAP).
type Instance interface {
	// Addr is what NewScanner takes to reach the instance.
	Addr() string
	Start()
	Stop()
	Pause()
	Resume()
}

// Engine describes the engine under test.
type Engine struct {
	// Name is the engine Version reports ("ClamAV", "C-ICAP").
	Name string
	// Addr reaches the shared test engine.
	Addr string
	// StreamMax is the size above which content is unscannable.
	StreamMax int64
	// DatedSignatures: a signature version always comes with its date.
	DatedSignatures bool
	// New returns the scanner under test.
	New NewScanner
	// Private starts a private instance for the stop and hang cases.
	Private func(t testing.TB) Instance
}

// Run runs the conformance suite against the shared test clamd (and
// private instances for the stop and hang cases) over transport.
func Run(t *testing.T, transport Transport, newScanner NewScanner) {
	e := Engine{Name: "ClamAV", Addr: testenv.ClamdAddr(t), StreamMax: testenv.ClamdStreamMax(t),
		DatedSignatures: true, New: newScanner}
	if transport == Unix {
		e.Addr = testenv.ClamdSocketAddr(t)
	}
	e.Private = func(t testing.TB) Instance {
		c := testenv.StartClamd(t)
		if transport == Unix {
			return socketClamd{c}
		}
		return c
	}
	RunEngine(t, e)
}

// socketClamd reaches a private clamd through its unix socket.
type socketClamd struct{ *testenv.Clamd }

func (c socketClamd) Addr() string { return c.SocketAddr() }

// RunEngine runs the conformance suite against e.
func RunEngine(t *testing.T, e Engine) {
	newScanner := e.New
	s := newScanner(t, e.Addr)

	t.Run("Ping", func(t *testing.T) {
		if err := s.Ping(ctx(t)); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("Version", func(t *testing.T) { testVersion(t, e, s) })
	t.Run("Clean", func(t *testing.T) {
		for name, data := range map[string][]byte{
			"random": testenv.Random(1 << 20),
			"empty":  {},
			"png":    testenv.PNG(t, 64, 64),
			"zip":    testenv.Zip(t, testenv.ZipEntry{Name: "a.bin", Data: testenv.Random(4096)}),
		} {
			t.Run(name, func(t *testing.T) {
				v := mustScan(t, s, bytes.NewReader(data))
				wantResult(t, v, scan.ResultClean)
				if v.Signature != "" {
					t.Errorf("clean verdict with signature %q", v.Signature)
				}
				if v.Engine == "" || v.EngineVersion == "" || v.ScannedAt.IsZero() {
					t.Errorf("verdict lacks engine or time: %+v", v)
				}
			})
		}
	})
	t.Run("Infected", func(t *testing.T) {
		eicar := testenv.EICAR()
		for name, data := range map[string][]byte{
			"eicar":          eicar,
			"eicar-newline":  append(append([]byte{}, eicar...), '\n'),
			"zip":            testenv.Zip(t, testenv.ZipEntry{Name: "eicar.com", Data: eicar}),
			"nested-zip-3":   testenv.NestedZip(t, 3, testenv.ZipEntry{Name: "eicar.com", Data: eicar}),
			"pdf-attachment": testenv.PDFWithAttachment(t, "eicar.com", eicar),
		} {
			t.Run(name, func(t *testing.T) {
				v := mustScan(t, s, bytes.NewReader(data))
				wantEICAR(t, v)
			})
		}
	})
	t.Run("DataWithEOF", func(t *testing.T) {
		// A Read returning n > 0 with io.EOF must not lose the bytes.
		v := mustScan(t, s, iotest.DataErrReader(bytes.NewReader(testenv.EICAR())))
		wantEICAR(t, v)
		v = mustScan(t, s, iotest.OneByteReader(iotest.DataErrReader(bytes.NewReader(testenv.EICAR()))))
		wantEICAR(t, v)
	})
	t.Run("MinIOObject", func(t *testing.T) { testMinIOObject(t, s) })
	t.Run("ClamavTestfiles", func(t *testing.T) { testClamavTestfiles(t, s) })
	t.Run("EncryptedZip", func(t *testing.T) {
		data := testenv.EncryptedZip(t, "secret.txt", []byte("nothing to see here\n"), "password")
		v := mustScan(t, s, bytes.NewReader(data))
		wantResult(t, v, scan.ResultUnscannable)
		if !strings.HasPrefix(v.Signature, "Heuristics.Encrypted") {
			t.Errorf("signature %q, want Heuristics.Encrypted.*", v.Signature)
		}
	})
	t.Run("OverStreamMax", func(t *testing.T) {
		v := mustScan(t, s, testenv.RandomReader(e.StreamMax+1))
		wantResult(t, v, scan.ResultUnscannable)
		if v.Reason == "" {
			t.Error("unscannable verdict without a reason")
		}
	})
	t.Run("CancelledContext", func(t *testing.T) { testCancel(t, s) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, s) })
	t.Run("EngineDown", func(t *testing.T) {
		c := e.Private(t)
		s := newScanner(t, c.Addr())
		wantResult(t, mustScan(t, s, bytes.NewReader(testenv.EICAR())), scan.ResultInfected)
		c.Stop()
		if _, err := s.Scan(ctx(t), bytes.NewReader(testenv.EICAR())); !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("Scan with the engine stopped: %v, want ErrUnavailable", err)
		}
		if err := s.Ping(ctx(t)); !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("Ping with the engine stopped: %v, want ErrUnavailable", err)
		}
		if _, err := s.Version(ctx(t)); !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("Version with the engine stopped: %v, want ErrUnavailable", err)
		}
		c.Start()
		wantResult(t, mustScan(t, s, bytes.NewReader(testenv.EICAR())), scan.ResultInfected)
	})
	t.Run("EngineHangs", func(t *testing.T) {
		c := e.Private(t)
		s := newScanner(t, c.Addr())
		if err := s.Ping(ctx(t)); err != nil {
			t.Fatal(err)
		}
		c.Pause()
		defer c.Resume()
		for name, call := range map[string]func(context.Context) error{
			"Scan": func(ctx context.Context) error {
				_, err := s.Scan(ctx, testenv.RandomReader(8<<20))
				return err
			},
			"Ping": s.Ping,
			"Version": func(ctx context.Context) error {
				_, err := s.Version(ctx)
				return err
			},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			start := time.Now()
			err := call(ctx)
			cancel()
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("%s on a hung engine returned after %v; want about the 500 ms deadline", name, took)
			}
			if !errors.Is(err, scan.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a hung engine: %v, want ErrUnavailable and DeadlineExceeded", name, err)
			}
		}
	})
}

func testVersion(t *testing.T, e Engine, s scan.Scanner) {
	ev, err := s.Version(ctx(t))
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if ev.Engine != e.Name || ev.Version == "" {
		t.Errorf("Version = %+v, want engine %s with a version", ev, e.Name)
	}
	// The generated test database has no version (only official .cvd/.cld
	// files carry one); when one is loaded, it comes with its date.
	if e.DatedSignatures && ev.SignatureVersion != "" && ev.SignatureDate.IsZero() {
		t.Errorf("signature version %q without a date", ev.SignatureVersion)
	}
	v := mustScan(t, s, bytes.NewReader([]byte("version check")))
	if v.Engine != ev.Engine || v.EngineVersion != ev.Version || v.SignatureVersion != ev.SignatureVersion {
		t.Errorf("verdict engine %q %q %q, Version says %+v", v.Engine, v.EngineVersion, v.SignatureVersion, ev)
	}
}

func testMinIOObject(t *testing.T, s scan.Scanner) {
	client, bucket := testenv.S3Bucket(t)
	eicar := testenv.EICAR()
	if _, err := client.PutObject(ctx(t), bucket, "eicar", bytes.NewReader(eicar), int64(len(eicar)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := client.GetObject(ctx(t), bucket, "eicar", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	wantEICAR(t, mustScan(t, s, obj))
}

func testClamavTestfiles(t *testing.T, s scan.Scanner) {
	files, err := filepath.Glob(filepath.Join(testenv.ClamavTestfilesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 44 {
		t.Fatalf("%d files in %s, want the 44 of package clamav-testfiles (run `make test` to install it)", len(files), testenv.ClamavTestfilesDir)
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Scan(ctx(t), f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(path), err)
			continue
		}
		if v.Result != scan.ResultInfected {
			t.Errorf("%s: %s %q, want infected", filepath.Base(path), v.Result, v.Signature)
		}
	}
}

func testCancel(t *testing.T, s scan.Scanner) {
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, err := s.Scan(cctx, bytes.NewReader([]byte("clean but cancelled")))
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Scan with a cancelled ctx: %+v, %v; want an error wrapping context.Canceled", v, err)
	}

	// Cancelled in the middle of the stream.
	cctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	r := &cancelAfter{r: testenv.RandomReader(64 << 20), n: 1 << 20, cancel: cancel}
	v, err = s.Scan(cctx, r)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Scan cancelled mid-stream: %+v, %v; want an error wrapping context.Canceled", v, err)
	}
}

// cancelAfter calls cancel once n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func testConcurrent(t *testing.T, s scan.Scanner) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			data, want := testenv.Random(256<<10), scan.ResultClean
			if i%2 == 0 {
				data, want = append(data[:1000], testenv.EICAR()...), scan.ResultInfected
			}
			v, err := s.Scan(context.Background(), bytes.NewReader(data))
			if err != nil || v.Result != want {
				errs <- fmt.Errorf("scan %d: %s, %v; want %s", i, v.Result, err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustScan(t testing.TB, s scan.Scanner, r io.Reader) scan.Verdict {
	t.Helper()
	v, err := s.Scan(ctx(t), r)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return v
}

func wantResult(t testing.TB, v scan.Verdict, want scan.Result) {
	t.Helper()
	if v.Result != want {
		t.Errorf("result %s (signature %q, reason %q), want %s", v.Result, v.Signature, v.Reason, want)
	}
}

func wantEICAR(t testing.TB, v scan.Verdict) {
	t.Helper()
	wantResult(t, v, scan.ResultInfected)
	if !strings.HasPrefix(v.Signature, testenv.EICARSignature) {
		t.Errorf("signature %q, want %s*", v.Signature, testenv.EICARSignature)
	}
}
