package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// bombPNG is a valid 1×1 PNG whose header claims 100000×100000 pixels: a
// decompression bomb as far as any header-trusting decoder is concerned.
func bombPNG(t *testing.T) []byte {
	b := testenv.PNG(t, 1, 1)
	ihdr := b[8:] // length(4) "IHDR"(4) data(13) crc(4)
	binary.BigEndian.PutUint32(ihdr[8:12], 100000)
	binary.BigEndian.PutUint32(ihdr[12:16], 100000)
	binary.BigEndian.PutUint32(ihdr[21:25], crc32.ChecksumIEEE(ihdr[4:21]))
	return b
}

// previewSite serves the pages the preview test links to.
func previewSite(t *testing.T, cat, eicarImage, bomb []byte) *httptest.Server {
	page := func(title, image string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html><head><title>fallback</title>
<meta property="og:title" content="%s"><meta property="og:description" content="A page about %s.">
<meta property="og:image" content="%s"></head><body>text</body></html>`, title, title, image)
		}
	}
	img := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(b)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/article", page("Cats", "/img/cat.png"))
	mux.Handle("/infected", page("Infected", "/img/eicar.png"))
	mux.Handle("/bomb", page("Bomb", "/img/bomb.png"))
	mux.Handle("/img/cat.png", img(cat))
	mux.Handle("/img/eicar.png", img(eicarImage))
	mux.Handle("/img/bomb.png", img(bomb))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func getPreview(t *testing.T, in *instance, path, token, target string) (int, map[string]any, []byte) {
	t.Helper()
	status, _, body := do(t, "GET", in.URL+path+"?url="+url.QueryEscape(target), token, nil, nil)
	var pv map[string]any
	if status == 200 {
		if err := json.Unmarshal(body, &pv); err != nil {
			t.Fatalf("preview answer: %s", body)
		}
	}
	return status, pv, body
}

// TestURLPreviews: previews of loopback pages through the built binary,
// with the image stored, scanned and named only when clean.
func TestURLPreviews(t *testing.T) {
	cat := testenv.PNG(t, 120, 80)
	eicarImage := append(testenv.PNG(t, 16, 16), testenv.EICAR()...) // a valid PNG that clamd finds infected
	site := previewSite(t, cat, eicarImage, bombPNG(t))
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.extra = `url_preview:
  enabled: true
  allow_private_addresses: true
  deny: ["*/denied/*"]
  timeout: 15s
  per_second: 0.01
  burst: 7
`
	in := start(t, s)
	const path = "/_matrix/client/v1/media/preview_url"

	status, pv, body := getPreview(t, in, path, aliceToken, site.URL+"/article")
	if status != 200 || pv["og:title"] != "Cats" || pv["og:description"] != "A page about Cats." {
		t.Fatalf("preview: %d %s", status, body)
	}
	mxc, _ := pv["og:image"].(string)
	if !strings.HasPrefix(mxc, "mxc://example.org/") || pv["matrix:image:size"] != float64(len(cat)) ||
		pv["og:image:width"] != float64(120) || pv["og:image:height"] != float64(80) || pv["og:image:type"] != "image/png" {
		t.Fatalf("preview image: %s", body)
	}
	status, _, got := do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+mxc[len("mxc://example.org/"):], bobToken, nil, nil)
	if status != 200 || !bytes.Equal(got, cat) {
		t.Fatalf("the preview image is not served as stored: %d", status)
	}

	// The legacy path answers the same (from the cache).
	status, pv2, _ := getPreview(t, in, "/_matrix/media/v3/preview_url", bobToken, site.URL+"/article")
	if status != 200 || pv2["og:image"] != mxc {
		t.Fatalf("legacy preview: %d %v", status, pv2)
	}

	// An infected image and a decompression bomb: previews without images.
	for _, p := range []string{"/infected", "/bomb"} {
		status, pv, body := getPreview(t, in, path, aliceToken, site.URL+p)
		if status != 200 || pv["og:title"] == nil {
			t.Fatalf("%s: %d %s", p, status, body)
		}
		for _, k := range []string{"og:image", "matrix:image:size", "og:image:width"} {
			if _, ok := pv[k]; ok {
				t.Fatalf("%s: the preview names an image: %s", p, body)
			}
		}
	}

	// A direct image link previews as the image.
	status, pv, body = getPreview(t, in, path, aliceToken, site.URL+"/img/cat.png")
	if status != 200 || !strings.HasPrefix(fmt.Sprint(pv["og:image"]), "mxc://") {
		t.Fatalf("image link: %d %s", status, body)
	}

	// Refusals in the Matrix shape.
	for _, tc := range []struct {
		name, token, target string
		status              int
		errcode             string
	}{
		{"no token", "", site.URL + "/article", 401, "M_MISSING_TOKEN"},
		{"no url", aliceToken, "", 400, "M_INVALID_PARAM"},
		{"denied pattern", aliceToken, site.URL + "/denied/page", 403, "M_FORBIDDEN"},
		{"unreachable", aliceToken, "http://127.0.0.1:1/", 502, "M_UNKNOWN"},
	} {
		status, _, body := getPreview(t, in, path, tc.token, tc.target)
		if code, _ := errcode(t, body); status != tc.status || code != tc.errcode {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.errcode)
		}
	}

	// The per-user limit (burst 7, all of alice's spent above).
	status, _, body = getPreview(t, in, path, aliceToken, site.URL+"/article")
	if code, _ := errcode(t, body); status != 429 || code != "M_LIMIT_EXCEEDED" {
		t.Fatalf("over the per-user limit: %d %s", status, body)
	}
}
