package clamd_test

// Regression tests for the defects of github.com/baruwa-enterprise/clamd
// v1.0.1 (see the package doc), against real clamd. Each test asserts our
// behaviour and logs the library's on the same input, for comparison.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	baruwa "github.com/baruwa-enterprise/clamd"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

func library(t testing.TB, addr string) *baruwa.Client {
	t.Helper()
	network, address, err := clamd.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := baruwa.NewClient(network, address)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func libraryResult(ctx context.Context, c *baruwa.Client, r io.Reader) string {
	res, err := c.ScanReader(ctx, r)
	if err != nil {
		return "error: " + err.Error()
	}
	var parts []string
	for _, x := range res {
		parts = append(parts, x.Raw)
	}
	return strings.Join(parts, "; ")
}

// (a) A Read returning n > 0 with io.EOF, as minio.Object does.
func TestDefectDataWithEOF(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	s := newScanner(t, addr)
	v, err := s.Scan(t.Context(), iotest.DataErrReader(bytes.NewReader(testenv.EICAR())))
	if err != nil {
		t.Fatal(err)
	}
	if v.Result != scan.ResultInfected {
		t.Errorf("EICAR from a reader returning data with io.EOF: %s, want infected", v.Result)
	}
	t.Logf("library on the same reader: %s", libraryResult(t.Context(), library(t, addr), iotest.DataErrReader(bytes.NewReader(testenv.EICAR()))))
}

// (b) Chunks of 64 KiB, not 1 KiB: every Read of the content asks for a
// whole chunk, so 1 MiB takes 16 reads (plus the one that sees EOF).
func TestDefectChunkSize(t *testing.T) {
	s := newScanner(t, testenv.ClamdAddr(t))
	r := &readRecorder{r: bytes.NewReader(testenv.Random(1 << 20))}
	v, err := s.Scan(t.Context(), r)
	if err != nil || v.Result != scan.ResultClean {
		t.Fatalf("Scan: %+v, %v", v, err)
	}
	if r.reads > 17 || r.minAsk != clamd.DefaultChunkSize {
		t.Errorf("%d reads, smallest asked %d bytes; want ≤ 17 reads of %d bytes", r.reads, r.minAsk, clamd.DefaultChunkSize)
	}
}

type readRecorder struct {
	r      io.Reader
	reads  int
	minAsk int
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	rr.reads++
	if rr.minAsk == 0 || len(p) < rr.minAsk {
		rr.minAsk = len(p)
	}
	return rr.r.Read(p)
}

// (c) Over StreamMaxLength clamd answers "INSTREAM size limit exceeded"
// and closes: that is a final "unscannable", not a transient broken pipe.
func TestDefectSizeLimit(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	max := testenv.ClamdStreamMax(t)
	s := newScanner(t, addr)
	for _, size := range []int64{max + 1, max + 10<<20} {
		v, err := s.Scan(t.Context(), testenv.RandomReader(size))
		if err != nil {
			t.Fatalf("%d bytes: %v; want an unscannable verdict", size, err)
		}
		if v.Result != scan.ResultUnscannable || !strings.Contains(v.Reason, "StreamMaxLength") {
			t.Errorf("%d bytes: %+v; want unscannable, StreamMaxLength", size, v)
		}
	}
	t.Logf("library on %d bytes: %s", max+10<<20, libraryResult(t.Context(), library(t, addr), testenv.RandomReader(max+10<<20)))
}

// (d) ctx bounds the whole scan, not only the dial: a hung clamd (SIGSTOP)
// releases the caller at ctx's deadline.
func TestDefectContextCoversScan(t *testing.T) {
	c := testenv.StartClamd(t)
	s := newScanner(t, c.Addr())
	c.Pause()
	defer c.Resume()

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Scan(ctx, testenv.RandomReader(16<<20))
	took := time.Since(start)
	if !errors.Is(err, scan.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Scan on a hung clamd: %v; want ErrUnavailable and DeadlineExceeded", err)
	}
	if took > 2*time.Second {
		t.Errorf("Scan returned after %v; want about the 300 ms deadline", took)
	}

	lib := library(t, c.Addr())
	lib.SetCmdTimeout(2 * time.Second) // its default is one minute
	ctx2, cancel2 := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel2()
	start = time.Now()
	res := libraryResult(ctx2, lib, testenv.RandomReader(16<<20))
	t.Logf("ours returned after %v; the library with a 300 ms ctx returned after %v (%s)", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), res)
}

// BenchmarkInstream compares our INSTREAM with the library's on the same
// 100 MB of unique random data (clamd caches verdicts of clean content by
// hash, so each iteration changes the first bytes).
func BenchmarkInstream(b *testing.B) {
	addr := testenv.ClamdAddr(b)
	data := testenv.Random(100_000_000)
	unique := func() io.Reader {
		if _, err := rand.Read(data[:32]); err != nil {
			b.Fatal(err)
		}
		return bytes.NewReader(data)
	}
	b.Run("ours", func(b *testing.B) {
		s := newScanner(b, addr)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			v, err := s.Scan(b.Context(), unique())
			if err != nil || v.Result != scan.ResultClean {
				b.Fatalf("%+v, %v", v, err)
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		c := library(b, addr)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			res, err := c.ScanReader(b.Context(), unique())
			if err != nil || len(res) != 1 || res[0].Status != "OK" {
				b.Fatalf("%v, %v", res, err)
			}
		}
	})
}
