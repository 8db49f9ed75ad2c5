package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestContentDisposition(t *testing.T) {
	for _, tc := range []struct{ ctype, name, want string }{
		{"image/png", "cat.png", `inline; filename="cat.png"; filename*=utf-8''cat.png`},
		{"image/png; charset=x", "", `inline`},
		{"text/html", "x.html", `attachment; filename="x.html"; filename*=utf-8''x.html`},
		{"image/svg+xml", "a.svg", `attachment; filename="a.svg"; filename*=utf-8''a.svg`},
		{"application/octet-stream", "Grüße 2024.pdf", `attachment; filename="Gr__e 2024.pdf"; filename*=utf-8''Gr%C3%BC%C3%9Fe%202024.pdf`},
		{"text/plain", `a"b.txt`, `inline; filename="a_b.txt"; filename*=utf-8''a%22b.txt`},
		{"text/plain", "evil\r\nSet-Cookie: x=1.txt", `inline; filename="evilSet-Cookie: x=1.txt"; filename*=utf-8''evilSet-Cookie%3A%20x%3D1.txt`},
		{"text/plain", "a.txt; filename=evil.exe", `inline; filename="a.txt_ filename=evil.exe"; filename*=utf-8''a.txt%3B%20filename%3Devil.exe`},
		{"text/plain", "../../etc/passwd", `inline; filename="passwd"; filename*=utf-8''passwd`},
		{"text/plain", `C:\x\y.txt`, `inline; filename="y.txt"; filename*=utf-8''y.txt`},
		{"text/plain", "100%.txt", `inline; filename="100_.txt"; filename*=utf-8''100%25.txt`},
		{"video/mp4", "日本.mp4", `inline; filename="__.mp4"; filename*=utf-8''%E6%97%A5%E6%9C%AC.mp4`},
	} {
		got := contentDisposition(tc.ctype, tc.name)
		if got != tc.want {
			t.Errorf("%s %q:\n got %s\nwant %s", tc.ctype, tc.name, got, tc.want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("header injection in %q", got)
		}
	}
}

func TestInlineTypes(t *testing.T) {
	if len(inlineTypes) != 26 {
		t.Fatalf("the spec lists 26 inline types, have %d", len(inlineTypes))
	}
	for _, bad := range []string{"text/html", "image/svg+xml", "application/pdf", "application/javascript", "text/xml", "garbage"} {
		if isInline(bad) {
			t.Errorf("%s must be an attachment", bad)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := http.Header{}
	setSecurityHeaders(h)
	for k, v := range map[string]string{
		"Content-Security-Policy":      mediaCSP,
		"Cross-Origin-Resource-Policy": "cross-origin",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"Cache-Control":                "private",
	} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		header       string
		size         int64
		off, n       int64
		partial, bad bool
	}{
		{"", 100, 0, 100, false, false},
		{"bytes=0-9", 100, 0, 10, true, false},
		{"bytes=90-", 100, 90, 10, true, false},
		{"bytes=90-200", 100, 90, 10, true, false},
		{"bytes=-10", 100, 90, 10, true, false},
		{"bytes=-500", 100, 0, 100, true, false},
		{"bytes=99-99", 100, 99, 1, true, false},
		{"bytes=100-", 100, 0, 0, false, true},
		{"bytes=-0", 100, 0, 0, false, true},
		{"bytes=0-", 0, 0, 0, false, true},
		{"bytes=5-2", 100, 0, 100, false, false},
		{"bytes=0-1,5-6", 100, 0, 100, false, false},
		{"items=0-1", 100, 0, 100, false, false},
		{"bytes=x-1", 100, 0, 100, false, false},
	} {
		off, n, partial, err := parseRange(tc.header, tc.size)
		if tc.bad {
			if !errors.Is(err, ErrRangeNotSatisfiable) {
				t.Errorf("%q/%d: want 416, got %v", tc.header, tc.size, err)
			}
			continue
		}
		if err != nil || off != tc.off || n != tc.n || partial != tc.partial {
			t.Errorf("%q/%d: %d %d %v %v, want %d %d %v", tc.header, tc.size, off, n, partial, err, tc.off, tc.n, tc.partial)
		}
	}
}

func TestErrorTable(t *testing.T) {
	if lookup(errors.New("boom")).status != 500 {
		t.Fatal("unknown errors must be 500")
	}
	if api := lookup(errQueryToken); api.status != 401 || api.errcode != "M_MISSING_TOKEN" {
		t.Fatalf("query token: %+v", api)
	}
	if !etagMatch(`W/"abc", "def"`, "def") || etagMatch(`"abc"`, "def") || !etagMatch("*", "x") {
		t.Fatal("etag matching")
	}
}
