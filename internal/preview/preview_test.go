package preview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/mediarepo/mediarepo/internal/federation"
)

func TestOpenGraph(t *testing.T) {
	latin1, err := charmap.ISO8859_1.NewEncoder().String("<html><head><title>Caf\u00e9 Stra\u00dfe</title></head></html>")
	if err != nil {
		t.Fatal(err)
	}
	sjis, err := japanese.ShiftJIS.NewEncoder().String(`<html><head><meta charset="shift_jis"><meta property="og:title" content="日本語のページ"></head></html>`)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("word ", 400)
	for _, tc := range []struct {
		name, page, contentType string
		want                    map[string]string
	}{
		{"og tags", `<html><head><meta property="og:title" content="The title"><meta property="og:description" content="About &amp; more">
			<meta property="og:image" content="/img.png"><meta property="og:site_name" content="Site"></head></html>`, "text/html",
			map[string]string{"og:title": "The title", "og:description": "About & more", "og:image": "/img.png", "og:site_name": "Site"}},
		{"fallbacks", `<title>  Plain
			 title </title><meta name="description" content="The description"><meta name="twitter:image" content="https://x/i.png">`, "text/html",
			map[string]string{"og:title": "Plain title", "og:description": "The description", "og:image": "https://x/i.png"}},
		{"og wins over fallbacks", `<title>T</title><meta property="og:title" content="OG">`, "text/html", map[string]string{"og:title": "OG"}},
		{"first of each", `<meta property="og:title" content="one"><meta property="og:title" content="two">`, "text/html", map[string]string{"og:title": "one"}},
		{"no tags", `<html><body><p>nothing here</p></body></html>`, "text/html", map[string]string{}},
		{"not HTML at all", "\x00\x01\x02binary", "text/html", map[string]string{}},
		{"cut in the middle", `<title>Cut</title><meta property="og:description" content="never clo`, "text/html", map[string]string{"og:title": "Cut"}},
		{"latin-1 by header", latin1, "text/html; charset=ISO-8859-1", map[string]string{"og:title": "Café Straße"}},
		{"shift_jis by meta", sjis, "text/html", map[string]string{"og:title": "日本語のページ"}},
		{"windows-1252 for unknown labels", "<title>caf\xe9</title>", "text/html; charset=nonsense", map[string]string{"og:title": "café"}},
		{"control characters", "<title>a\x07b</title>", "text/html", map[string]string{"og:title": "a b"}},
		{"long description", `<meta property="og:description" content="` + long + `">`, "text/html", map[string]string{"og:description": strings.TrimSpace(long)[:499] + "…"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := OpenGraph(strings.NewReader(tc.page), tc.contentType)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRules(t *testing.T) {
	r, err := NewRules([]string{"https://*.internal.example/*", "*://evil.example/*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	only, err := NewRules([]string{"https://news.example/private/*"}, []string{"https://news.example/*", "https://*.wiki.example/*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rules *Rules
		url   string
		err   error
	}{
		{r, "https://example.org/page", nil},
		{r, "https://a.b.internal.example/x", ErrDenied},
		{r, "http://evil.example/", ErrDenied},
		{r, "https://EVIL.example/#frag", ErrDenied}, // hosts compare in lowercase, fragments are ignored
		{r, "ftp://example.org/", ErrBadURL},
		{r, "https://user:pw@example.org/", ErrDenied},
		{only, "https://news.example/today", nil},
		{only, "https://news.example/private/x", ErrDenied},
		{only, "https://de.wiki.example/Berlin", nil},
		{only, "https://other.example/", ErrDenied},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.rules.Check(u); !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
			t.Errorf("%s: %v, want %v", tc.url, err, tc.err)
		}
	}
	if _, err := NewRules([]string{"https://[broken"}, nil); err == nil {
		t.Error("a broken pattern was accepted")
	}
}

// newTestPreviewer previews from loopback (allowed here) with small limits.
// Pages without an image never reach m.
func newTestPreviewer(t *testing.T, m Media, allowPrivate bool, deny ...string) *Previewer {
	t.Helper()
	p, err := New(m, Options{Policy: federation.AddrPolicy{AllowPrivate: allowPrivate}, Deny: deny,
		MaxPageSize: 64 << 10, MaxImageSize: 1 << 20, Timeout: 3 * time.Second, MaxRedirects: 3, CacheTTL: time.Minute},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPreviewFetchLimits(t *testing.T) {
	var fetches atomic.Int64
	var hugeBytes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		time.Sleep(100 * time.Millisecond) // concurrent requests overlap
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<meta property="og:title" content="A page">`)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/to-denied", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/denied/x", http.StatusFound)
	})
	mux.HandleFunc("/pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		io.WriteString(w, "%PDF-1.4 not a page")
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<html><head><meta property="og:title" content="Huge"></head><body>`)
		chunk := []byte(strings.Repeat("<p>filler</p>", 1000))
		for i := 0; i < 10000; i++ { // 130 MB if it were all read
			n, err := w.Write(chunk)
			hugeBytes.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p := newTestPreviewer(t, nil, true, srv.URL+"/denied/*")
	ctx := context.Background()

	// Concurrent requests share one fetch; the cache answers the next.
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pv, err := p.Get(ctx, "@a:example.org", "example.org", srv.URL+"/page")
			if err != nil || pv["og:title"] != "A page" {
				t.Errorf("concurrent preview: %v %v", pv, err)
			}
		}()
	}
	wg.Wait()
	if _, err := p.Get(ctx, "@b:example.org", "example.org", srv.URL+"/page#other-fragment"); err != nil {
		t.Fatal(err)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("6 previews of one URL fetched it %d times, want 1", n)
	}

	for _, tc := range []struct {
		path string
		err  error
	}{
		{"/loop", ErrFetchFailed},
		{"/to-denied", ErrDenied},
		{"/denied/x", ErrDenied},
		{"/gone", ErrFetchFailed},
		{"/slow", ErrFetchFailed},
	} {
		start := time.Now()
		_, err := p.Get(ctx, "@a:example.org", "example.org", srv.URL+tc.path)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.path, err, tc.err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %s, the timeout is 3s", tc.path, d)
		}
	}
	pv, err := p.Get(ctx, "@a:example.org", "example.org", srv.URL+"/pdf")
	if err != nil || len(pv) != 0 {
		t.Errorf("a PDF: %v %v, want an empty preview", pv, err)
	}
	pv, err = p.Get(ctx, "@a:example.org", "example.org", srv.URL+"/huge")
	if err != nil || pv["og:title"] != "Huge" {
		t.Errorf("a huge page: %v %v", pv, err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := hugeBytes.Load(); n > 8<<20 {
		t.Errorf("%d bytes of a huge page were sent; reading stops at 64 KiB (plus buffers)", n)
	}
	for _, bad := range []string{"", "not a url", "/relative", "file:///etc/passwd", "gopher://x/"} {
		if _, err := p.Get(ctx, "@a:example.org", "example.org", bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("%q: %v, want ErrBadURL", bad, err)
		}
	}
}

// TestPreviewRefusesPrivateAddresses: without allow_private_addresses the
// dialer refuses loopback, also when a public-looking name resolves there.
func TestPreviewRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a loopback page was fetched")
	}))
	defer srv.Close()
	p := newTestPreviewer(t, nil, false)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, u := range []string{srv.URL + "/", "http://localhost" + port + "/", "http://[::1]" + port + "/", "http://169.254.169.254/latest/meta-data/"} {
		if _, err := p.Get(context.Background(), "@a:example.org", "example.org", u); !errors.Is(err, federation.ErrAddressForbidden) {
			t.Errorf("%s: %v, want ErrAddressForbidden", u, err)
		}
	}
}
