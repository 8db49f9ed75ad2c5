package federation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	mfed "maunium.net/go/mautrix/federation"
	"maunium.net/go/mautrix/id"

	"github.com/mediarepo/mediarepo/internal/media"
)

// peer is a TLS federation server on loopback: it serves its keys and
// media, verifying X-Matrix with a Verifier of its own.
type peer struct {
	srv     *httptest.Server
	name    string
	key     *mfed.SigningKey
	hits    atomic.Int64
	content func(w http.ResponseWriter, r *http.Request)
	keyResp func() any
	ver     *Verifier
	lastErr atomic.Value
}

func newPeer(t *testing.T, acl *PeerACL) *peer {
	t.Helper()
	p := &peer{key: mfed.GenerateSigningKey()}
	r := mux.NewRouter()
	r.HandleFunc("/_matrix/key/v2/server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var v any = p.key.GenerateKeyResponse(p.name, nil)
		if p.keyResp != nil {
			v = p.keyResp()
		}
		writeJSONTest(w, v)
	})
	r.HandleFunc("/_matrix/federation/v1/media/download/{id}", func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		if _, err := p.ver.Verify(r, p.name); err != nil {
			p.lastErr.Store(err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errcode":"M_UNAUTHORIZED","error":"x"}`)
			return
		}
		p.content(w, r)
	})
	p.srv = httptest.NewTLSServer(r)
	t.Cleanup(p.srv.Close)
	p.name = strings.TrimPrefix(p.srv.URL, "https://")
	p.content = func(w http.ResponseWriter, r *http.Request) {
		mw := NewMultipartWriter(w)
		w.Header().Set("Content-Type", mw.ContentType())
		mw.WriteMedia("text/plain", `attachment; filename="hello.txt"`, strings.NewReader("hello "+mux.Vars(r)["id"]))
	}
	// The peer fetches keys of its callers through a client of its own.
	pc := NewClient(ClientOptions{ServerName: p.name, Key: p.key, Policy: AddrPolicy{AllowPrivate: true}, RootCAs: pool(p.srv)})
	p.ver = NewVerifier(NewKeyStore(pc), acl, func(s string) bool { return s == p.name })
	return p
}

func pool(srv *httptest.Server) *x509.CertPool {
	cp := x509.NewCertPool()
	cp.AddCert(srv.Certificate())
	return cp
}

func writeJSONTest(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Write(b)
}

// client returns a client signing as the peer itself (so that the peer
// can fetch the caller's keys from its own key endpoint).
func (p *peer) client(opts ClientOptions) *Client {
	if opts.ServerName == "" {
		opts.ServerName, opts.Key = p.name, p.key
	}
	if opts.RootCAs == nil {
		opts.RootCAs = pool(p.srv)
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = 1 << 20
	}
	opts.Timeout = 10 * time.Second
	return NewClient(opts)
}

func readAll(t *testing.T, m *Media) string {
	t.Helper()
	defer m.Body.Close()
	b, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDownloadSignedRoundTrip(t *testing.T) {
	p := newPeer(t, nil)
	c := p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: true}})
	m, err := c.Download(context.Background(), p.name, "abc_DEF-1")
	if err != nil {
		t.Fatalf("download: %v (peer: %v)", err, p.lastErr.Load())
	}
	if got := readAll(t, m); got != "hello abc_DEF-1" {
		t.Fatalf("body %q", got)
	}
	if m.ContentType != "text/plain" || m.Filename != "hello.txt" {
		t.Fatalf("meta %+v", m)
	}
}

func TestDownloadBadSignatureRefused(t *testing.T) {
	p := newPeer(t, nil)
	// Signed as the peer's name but with another key: the peer fetches
	// its own key and the signature does not verify.
	c := p.client(ClientOptions{ServerName: "", Policy: AddrPolicy{AllowPrivate: true}})
	c.fed.Key = mfed.GenerateSigningKey()
	c.fed.Key.ID = p.key.ID
	_, err := c.Download(context.Background(), p.name, "abc")
	if !errors.Is(err, ErrRemoteFailed) || !strings.Contains(fmt.Sprint(p.lastErr.Load()), "signature") {
		t.Fatalf("download with a wrong key: %v (peer: %v)", err, p.lastErr.Load())
	}
}

func TestVerifyRefusesForeignKeyAnswers(t *testing.T) {
	for name, resp := range map[string]func(p *peer) any{
		"wrong server_name": func(p *peer) any { return p.key.GenerateKeyResponse("evil.example", nil) },
		"expired": func(p *peer) any {
			r := p.key.GenerateKeyResponse(p.name, nil)
			r.ValidUntilTS.Time = time.Now().Add(-time.Hour)
			r.Signatures = nil
			sig, err := p.key.SignJSON(r)
			if err != nil {
				panic(err)
			}
			r.Signatures = map[string]map[id.KeyID]string{p.name: {p.key.ID: sig}}
			return r
		},
		"unsigned": func(p *peer) any {
			r := p.key.GenerateKeyResponse(p.name, nil)
			r.Signatures = nil
			return r
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := newPeer(t, nil)
			p.keyResp = func() any { return resp(p) }
			c := p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: true}})
			_, err := c.Download(context.Background(), p.name, "abc")
			if !errors.Is(err, ErrRemoteFailed) || !strings.Contains(fmt.Sprint(p.lastErr.Load()), "fetching keys") {
				t.Fatalf("got %v (peer: %v)", err, p.lastErr.Load())
			}
		})
	}
}

func TestVerifyMissingHeaderAndWrongDestination(t *testing.T) {
	p := newPeer(t, nil)
	req := httptest.NewRequest("GET", "/_matrix/federation/v1/media/download/x", nil)
	if _, err := p.ver.Verify(req, p.name); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no header: %v", err)
	}
	req.Header.Set("Authorization", `X-Matrix origin="`+p.name+`",destination="other.example",key="ed25519:a",sig="x"`)
	if _, err := p.ver.Verify(req, p.name); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "destination") {
		t.Fatalf("wrong destination: %v", err)
	}
}

func TestPeerACLBothWays(t *testing.T) {
	p := newPeer(t, NewPeerACL([]string{"friend.example"}))
	// Incoming: the peer refuses us before fetching any key.
	c := p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: true}})
	if _, err := c.Download(context.Background(), p.name, "abc"); !errors.Is(err, ErrRemoteFailed) ||
		!strings.Contains(fmt.Sprint(p.lastErr.Load()), "not allowed") {
		t.Fatalf("incoming: %v (peer: %v)", err, p.lastErr.Load())
	}
	// Outgoing: we never contact a peer outside our list.
	before := p.hits.Load()
	c = p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: true}, ACL: NewPeerACL([]string{"friend.example", "*.friends.example"})})
	if _, err := c.Download(context.Background(), p.name, "abc"); !errors.Is(err, ErrPeerNotAllowed) {
		t.Fatalf("outgoing: %v", err)
	}
	if p.hits.Load() != before {
		t.Fatal("a refused peer was contacted")
	}
}

func TestPeerACLMatching(t *testing.T) {
	acl := NewPeerACL([]string{"Example.org", "*.bund.example", "[::1]:8448"})
	for server, ok := range map[string]bool{
		"example.org": true, "EXAMPLE.ORG": true, "example.org:8448": false, "other.org": false,
		"a.bund.example": true, "a.bund.example:443": true, "bund.example": false, "xbund.example": false,
		"[::1]:8448": true, "[::1]": false,
	} {
		if err := acl.Check(server); (err == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", server, err, ok)
		}
	}
	if err := NewPeerACL(nil).Check("anything.example"); err != nil {
		t.Errorf("empty list: %v", err)
	}
}

func TestDownloadSSRFRefused(t *testing.T) {
	p := newPeer(t, nil)
	port := p.srv.Listener.Addr().(*net.TCPAddr).Port
	c := p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: false}})
	for _, server := range []string{
		p.name,                            // 127.0.0.1:port
		fmt.Sprintf("localhost:%d", port), // resolves to loopback
		"169.254.169.254",                 // metadata address, port 8448
		"169.254.169.254:80",
		"[::1]:" + fmt.Sprint(port),
		"10.0.0.1:8448",
		"0.0.0.0:8448",
	} {
		_, err := c.Download(context.Background(), server, "abc")
		if !errors.Is(err, ErrAddressForbidden) {
			t.Errorf("%s: %v, want ErrAddressForbidden", server, err)
		}
	}
	if p.hits.Load() != 0 {
		t.Fatal("the peer was reached")
	}
	// Even with private addresses allowed, link-local stays refused.
	c = p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: true}})
	if _, err := c.Download(context.Background(), "169.254.169.254:8448", "abc"); !errors.Is(err, ErrAddressForbidden) {
		t.Errorf("link-local with private allowed: %v", err)
	}
}

func TestLocationFollowedUnderTheSameRules(t *testing.T) {
	var cdnHits atomic.Int64
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnHits.Add(1)
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, "/file", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Disposition", `inline; filename="a.png"`)
		io.WriteString(w, "pngbytes")
	}))
	t.Cleanup(cdn.Close)
	p := newPeer(t, nil)
	p.content = func(w http.ResponseWriter, r *http.Request) {
		mw := NewMultipartWriter(w)
		w.Header().Set("Content-Type", mw.ContentType())
		w.WriteHeader(200)
		fmt.Fprintf(w, "--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n--%s\r\nLocation: %s/hop\r\n\r\n\r\n--%s--\r\n",
			boundaryOf(mw), boundaryOf(mw), cdn.URL, boundaryOf(mw))
	}
	c := p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: true}})
	m, err := c.Download(context.Background(), p.name, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, m); got != "pngbytes" || m.ContentType != "image/png" || m.Filename != "a.png" {
		t.Fatalf("got %q %+v", got, m)
	}
	// The same answer, with only the peer's own address allowed: the
	// Location (another port) is refused at dial time.
	peerAddr := netip.MustParseAddrPort(p.name)
	only := AddrPolicy{check: func(ap netip.AddrPort) error {
		if ap == peerAddr {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrAddressForbidden, ap)
	}}
	before := cdnHits.Load()
	c = p.client(ClientOptions{Policy: only})
	if _, err := c.Download(context.Background(), p.name, "abc"); !errors.Is(err, ErrAddressForbidden) {
		t.Fatalf("Location to a forbidden address: %v", err)
	}
	if cdnHits.Load() != before {
		t.Fatal("the forbidden Location was reached")
	}
}

func TestRedirectReChecked(t *testing.T) {
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		io.WriteString(w, "secret")
	}))
	t.Cleanup(target.Close)
	hop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/meta", http.StatusFound)
	}))
	t.Cleanup(hop.Close)
	p := newPeer(t, nil)
	p.content = func(w http.ResponseWriter, r *http.Request) {
		mw := NewMultipartWriter(w)
		w.Header().Set("Content-Type", mw.ContentType())
		b := boundaryOf(mw)
		fmt.Fprintf(w, "--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n--%s\r\nLocation: %s/x\r\n\r\n\r\n--%s--\r\n", b, b, hop.URL, b)
	}
	forbidden := netip.MustParseAddrPort(strings.TrimPrefix(target.URL, "http://"))
	policy := AddrPolicy{check: func(ap netip.AddrPort) error {
		if ap == forbidden {
			return fmt.Errorf("%w: %s", ErrAddressForbidden, ap)
		}
		return nil
	}}
	c := p.client(ClientOptions{Policy: policy})
	if _, err := c.Download(context.Background(), p.name, "abc"); !errors.Is(err, ErrAddressForbidden) {
		t.Fatalf("redirect to a forbidden address: %v", err)
	}
	if targetHits.Load() != 0 {
		t.Fatal("the redirect target was reached")
	}
}

func TestDownloadCapsAndErrors(t *testing.T) {
	p := newPeer(t, nil)
	c := p.client(ClientOptions{Policy: AddrPolicy{AllowPrivate: true}, MaxSize: 10})
	// Streamed over the cap (no declared length).
	m, err := c.Download(context.Background(), p.name, "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(m.Body)
	m.Body.Close()
	if !errors.Is(err, ErrRemoteTooLarge) {
		t.Fatalf("streamed over the cap: %v", err)
	}
	// Declared over the cap: refused before reading.
	p.content = func(w http.ResponseWriter, r *http.Request) {
		mw := NewMultipartWriter(w)
		w.Header().Set("Content-Type", mw.ContentType())
		b := boundaryOf(mw)
		fmt.Fprintf(w, "--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n--%s\r\nContent-Type: text/plain\r\nContent-Length: 999\r\n\r\nx\r\n--%s--\r\n", b, b, b)
	}
	if _, err := c.Download(context.Background(), p.name, "abc"); !errors.Is(err, ErrRemoteTooLarge) {
		t.Fatalf("declared over the cap: %v", err)
	}
	// Not found at the remote.
	p.content = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		io.WriteString(w, `{"errcode":"M_NOT_FOUND","error":"no"}`)
	}
	if _, err := c.Download(context.Background(), p.name, "abc"); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("404: %v", err)
	}
	// Not multipart.
	p.content = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain bytes") }
	if _, err := c.Download(context.Background(), p.name, "abc"); !errors.Is(err, ErrRemoteFailed) {
		t.Fatalf("not multipart: %v", err)
	}
	// Invalid media IDs never leave the process.
	before := p.hits.Load()
	if _, err := c.Download(context.Background(), p.name, "../etc"); !errors.Is(err, media.ErrInvalidID) {
		t.Fatalf("bad id: %v", err)
	}
	if p.hits.Load() != before {
		t.Fatal("an invalid ID was sent")
	}
}
