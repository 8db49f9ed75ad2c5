package icap_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/icap"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

const blockedPage = "ICAP/1.0 200 OK\r\nISTag: \"@TAG@\"\r\nEncapsulated: res-hdr=0, res-body=45\r\n\r\n" +
	"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\n7\r\nblocked\r\n0\r\n\r\n"

// TestAnswers checks the verdict policy on each kind of answer an ICAP
// service gives, for RESPMOD and REQMOD, with small and large content
// (inside and beyond the preview).
func TestAnswers(t *testing.T) {
	big := testenv.Random(300 << 10)
	tests := []struct {
		name    string
		answer  func(method string, body []byte) string
		want    scan.Result
		sig     string
		wantErr bool
	}{
		{"204", func(string, []byte) string { return "ICAP/1.0 204 No Content\r\nISTag: \"@TAG@\"\r\n\r\n" }, scan.ResultClean, "", false},
		{"200 unmodified", func(m string, b []byte) string { return echo(m, b, nil) }, scan.ResultClean, "", false},
		{"200 one byte changed", func(m string, b []byte) string {
			return echo(m, b, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
		}, scan.ResultInfected, icap.SignatureBlocked, false},
		{"200 truncated", func(m string, b []byte) string {
			return echo(m, b, func(b []byte) []byte { return b[:len(b)-1] })
		}, scan.ResultInfected, icap.SignatureBlocked, false},
		{"200 blocked page", func(string, []byte) string { return blockedPage }, scan.ResultInfected, icap.SignatureBlocked, false},
		{"c-icap infection header", func(m string, b []byte) string {
			return strings.Replace(blockedPage, "\r\n\r\n", "\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Win.Test.EICAR_HDB-1;\r\n\r\n", 1)
		}, scan.ResultInfected, "Win.Test.EICAR_HDB-1", false},
		{"c-icap violations header", func(m string, b []byte) string {
			return strings.Replace(blockedPage, "\r\n\r\n", "\r\nX-Violations-Found: 1\r\n\t-\r\n\tEicar-Test-Signature\r\n\t0\r\n\t0\r\n\r\n", 1)
		}, scan.ResultInfected, "Eicar-Test-Signature", false},
		{"X-Virus-ID with unmodified body", func(m string, b []byte) string {
			return strings.Replace(echo(m, b, nil), "\r\n\r\n", "\r\nX-Virus-ID: EICAR-Test-File\r\n\r\n", 1)
		}, scan.ResultInfected, "EICAR-Test-File", false},
		{"X-Virus-ID on 204", func(string, []byte) string {
			return "ICAP/1.0 204 No Content\r\nISTag: \"@TAG@\"\r\nX-Virus-ID: Trojan.Generic\r\n\r\n"
		}, scan.ResultInfected, "Trojan.Generic", false},
		{"encrypted heuristic", func(m string, b []byte) string {
			return strings.Replace(blockedPage, "\r\n\r\n", "\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Heuristics.Encrypted.Zip;\r\n\r\n", 1)
		}, scan.ResultUnscannable, "Heuristics.Encrypted.Zip", false},
		{"ICAP 403", func(string, []byte) string { return "ICAP/1.0 403 Forbidden\r\nISTag: \"@TAG@\"\r\n\r\n" }, scan.ResultInfected, icap.SignatureForbidden, false},
		{"500", func(string, []byte) string { return "ICAP/1.0 500 Server Error\r\nISTag: \"@TAG@\"\r\n\r\n" }, "", "", true},
		{"506 too busy", func(string, []byte) string { return "ICAP/1.0 506 Server too busy\r\nISTag: \"@TAG@\"\r\n\r\n" }, "", "", true},
		{"404 service", func(string, []byte) string { return "ICAP/1.0 404 Service not found\r\n\r\n" }, "", "", true},
		{"200 without a message", func(string, []byte) string {
			return "ICAP/1.0 200 OK\r\nISTag: \"@TAG@\"\r\nEncapsulated: null-body=0\r\n\r\n"
		}, "", "", true},
		{"garbage", func(string, []byte) string { return "HTTP/1.1 200 OK\r\n\r\n" }, "", "", true},
		{"bad chunk", func(string, []byte) string {
			return "ICAP/1.0 200 OK\r\nISTag: \"@TAG@\"\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\nzz\r\n"
		}, "", "", true},
	}
	for _, method := range []icap.Method{icap.RESPMOD, icap.REQMOD} {
		for _, tt := range tests {
			for size, data := range map[string][]byte{"small": []byte("hello, ICAP"), "big": big} {
				t.Run(string(method)+"/"+tt.name+"/"+size, func(t *testing.T) {
					f := newFake(t, "Preview: 1024\r\nAllow: 204\r\n", tt.answer)
					s, err := icap.New(icap.Config{URL: f.url(), Method: method})
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					v, err := s.Scan(ctx(t), bytes.NewReader(data))
					if tt.wantErr {
						if !errors.Is(err, scan.ErrUnavailable) {
							t.Fatalf("Scan: %+v, %v; want ErrUnavailable", v, err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if v.Result != tt.want || v.Signature != tt.sig {
						t.Errorf("verdict %s %q (%s), want %s %q", v.Result, v.Signature, v.Reason, tt.want, tt.sig)
					}
					if v.Engine != "Fake-AV" || v.EngineVersion != "2.1" || v.SignatureVersion != "fake-1" {
						t.Errorf("engine %q %q %q, want Fake-AV 2.1 fake-1", v.Engine, v.EngineVersion, v.SignatureVersion)
					}
				})
			}
		}
	}
}

// TestEarlyAnswerIsNotClean: a service that answers 204 (or echoes the
// preview) without asking for the rest has not scanned the content
// (c-icap does so for types it is not told to scan): unscannable.
func TestEarlyAnswerIsNotClean(t *testing.T) {
	for name, early := range map[string]func([]byte, bool) string{
		"204":                 func([]byte, bool) string { return "ICAP/1.0 204 No Content\r\nISTag: \"@TAG@\"\r\n\r\n" },
		"echo of the preview": func(p []byte, _ bool) string { return echo("RESPMOD", p, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, "Preview: 1024\r\nAllow: 204\r\n", func(m string, b []byte) string { return echo(m, b, nil) })
			f.afterPreview = early
			s, err := icap.New(icap.Config{URL: f.url()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			v, err := s.Scan(ctx(t), bytes.NewReader(testenv.Random(100<<10)))
			if err != nil || v.Result != scan.ResultUnscannable {
				t.Fatalf("early answer: %+v, %v; want unscannable", v, err)
			}
			// Content that fits the preview is judged whole: clean.
			v, err = s.Scan(ctx(t), bytes.NewReader([]byte("short")))
			if err != nil || v.Result != scan.ResultClean {
				t.Fatalf("answer to a complete preview: %+v, %v; want clean", v, err)
			}
		})
	}
}

// TestConnectionReuse: sequential scans share one connection; a service
// that closes it is dialled again.
func TestConnectionReuse(t *testing.T) {
	var closeNext atomic.Bool
	f := newFake(t, "Preview: 0\r\nAllow: 204\r\nMax-Connections: 4\r\n", func(string, []byte) string {
		if closeNext.Load() {
			return "ICAP/1.0 204 No Content\r\nISTag: \"@TAG@\"\r\nConnection: close\r\n\r\n"
		}
		return "ICAP/1.0 204 No Content\r\nISTag: \"@TAG@\"\r\n\r\n"
	})
	s, err := icap.New(icap.Config{URL: f.url()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 20 {
		if v, err := s.Scan(ctx(t), bytes.NewReader(testenv.Random(10<<10))); err != nil || !v.Clean() {
			t.Fatalf("Scan: %+v, %v", v, err)
		}
	}
	if n := f.conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential scans, want 1", n)
	}
	closeNext.Store(true)
	for range 3 {
		if v, err := s.Scan(ctx(t), bytes.NewReader([]byte("x"))); err != nil || !v.Clean() {
			t.Fatalf("Scan: %+v, %v", v, err)
		}
	}
	if n := f.conns.Load(); n != 3 {
		t.Errorf("%d connections after 3 answers with Connection: close, want 3 (the first reused)", n)
	}
}

// TestOptions: Version reports the service and its ISTag, and a new ISTag
// (a signature update) shows in the next Version and in verdicts; a
// service that does not offer the configured method is not usable.
func TestOptions(t *testing.T) {
	f := newFake(t, "Preview: 10\r\nAllow: 204\r\nOptions-TTL: 1\r\n", func(string, []byte) string {
		return "ICAP/1.0 204 No Content\r\nISTag: \"@TAG@\"\r\n\r\n"
	})
	s, err := icap.New(icap.Config{URL: f.url(), OptionsTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.Version(ctx(t))
	if err != nil || ev.Engine != "Fake-AV" || ev.Version != "2.1" || ev.SignatureVersion != "fake-1" {
		t.Fatalf("Version: %+v, %v", ev, err)
	}
	f.istag.Store("fake-2")
	v, err := s.Scan(ctx(t), bytes.NewReader([]byte("x")))
	if err != nil || v.SignatureVersion != "fake-2" {
		t.Errorf("verdict after the ISTag changed: %+v, %v; want signature version fake-2", v, err)
	}
	if ev, err := s.Version(ctx(t)); err != nil || ev.SignatureVersion != "fake-2" {
		t.Errorf("Version after the ISTag changed: %+v, %v", ev, err)
	}

	g := newFake(t, "Methods: REQMOD\r\n", nil)
	s2, err := icap.New(icap.Config{URL: g.url()})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Ping(ctx(t)); !errors.Is(err, scan.ErrUnavailable) {
		t.Errorf("Ping of a REQMOD-only service for RESPMOD: %v, want ErrUnavailable", err)
	}
	if _, err := s2.Scan(ctx(t), bytes.NewReader([]byte("x"))); !errors.Is(err, scan.ErrUnavailable) {
		t.Errorf("Scan on a REQMOD-only service with RESPMOD: %v, want ErrUnavailable", err)
	}
}

// TestMaxSize: content over MaxSize is unscannable without a verdict.
func TestMaxSize(t *testing.T) {
	f := newFake(t, "Preview: 1024\r\nAllow: 204\r\n", func(string, []byte) string {
		return "ICAP/1.0 204 No Content\r\nISTag: \"@TAG@\"\r\n\r\n"
	})
	s, err := icap.New(icap.Config{URL: f.url(), MaxSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Scan(ctx(t), bytes.NewReader(testenv.Random(4096))); err != nil || !v.Clean() {
		t.Errorf("at MaxSize: %+v, %v; want clean", v, err)
	}
	if v, err := s.Scan(ctx(t), bytes.NewReader(testenv.Random(4097))); err != nil || v.Result != scan.ResultUnscannable {
		t.Errorf("over MaxSize: %+v, %v; want unscannable", v, err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []icap.Config{
		{URL: "http://h/x"}, {URL: "icap://h"}, {URL: "icap:///x"}, {URL: "icap://h/x", Method: "GET"},
	} {
		if _, err := icap.New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
