package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	mfed "maunium.net/go/mautrix/federation"

	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
)

// stallingPeer is another server's federation endpoint that never answers
// a media download: it counts the requests that reach it and how many of
// them ended because the caller went away.
type stallingPeer struct {
	srv            *httptest.Server
	hits, released atomic.Int64
}

func newStallingPeer(t *testing.T) *stallingPeer {
	p := &stallingPeer{}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		select {
		case <-r.Context().Done():
			p.released.Add(1)
		case <-time.After(30 * time.Second):
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *stallingPeer) name() string { return strings.TrimPrefix(p.srv.URL, "https://") }

// withPeer enables federation fetching through a real federation client
// that may reach the loopback peer.
func withPeer(p *stallingPeer) func(*service.Service) {
	return func(s *service.Service) {
		pool := p.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		c := federation.NewClient(federation.ClientOptions{ServerName: "example.org", Key: mfed.GenerateSigningKey(),
			Policy: federation.AddrPolicy{AllowPrivate: true}, RootCAs: pool, Timeout: 30 * time.Second, MaxSize: 1 << 20})
		s.EnableRemote(c, service.RemoteOptions{Local: []string{"example.org"}, Timeout: 30 * time.Second}, prometheus.NewRegistry())
	}
}

// TestLegacyDecidesBeforeAnyWork: the unauthenticated legacy endpoints
// refuse media of other servers without fetching it, and media newer than
// the freeze without waiting for its verdict or making a thumbnail
// (issue 14, item 7).
func TestLegacyDecidesBeforeAnyWork(t *testing.T) {
	peer := newStallingPeer(t)
	freeze := time.Now().Add(-time.Hour)
	f := newPublicFixture(t, fixtureOptions{remote: withPeer(peer), api: func(o *Options) { o.LegacyFreeze = freeze }})
	for _, path := range []string{
		"/_matrix/media/v3/download/" + peer.name() + "/remote1",
		"/_matrix/media/v3/download/" + peer.name() + "/remote1/name.txt",
		"/_matrix/media/v3/thumbnail/" + peer.name() + "/remote2?width=32&height=32",
	} {
		status, _, body := f.do(t, "GET", path+sep(path)+"timeout_ms=500", "", nil)
		if status != http.StatusNotFound || !strings.Contains(body, "M_NOT_FOUND") {
			t.Errorf("%s: %d %s, want 404 M_NOT_FOUND", path, status, body)
		}
	}
	if n := peer.hits.Load(); n != 0 {
		t.Fatalf("the legacy endpoints fetched remote media %d times for clients without a token", n)
	}
	// Local media after the freeze that is still being scanned: refused at
	// once, not waited for (a wait would end in 504).
	fresh := f.record(t, "example.org", time.Now(), media.StatePending)
	for _, path := range []string{"/_matrix/media/v3/download/example.org/" + fresh.ID,
		"/_matrix/media/v3/thumbnail/example.org/" + fresh.ID + "?width=32&height=32"} {
		status, _, body := f.do(t, "GET", path+sep(path)+"timeout_ms=3000", "", nil)
		if status != http.StatusNotFound {
			t.Errorf("%s (after the freeze, pending): %d %s, want 404 without waiting", path, status, body)
		}
	}
	// Older local media is still served there.
	old := f.record(t, "example.org", freeze.Add(-time.Hour), media.StatePending)
	if status, _, body := f.do(t, "GET", "/_matrix/media/v3/download/example.org/"+old.ID+"?timeout_ms=0", "", nil); status != http.StatusGatewayTimeout {
		t.Errorf("media before the freeze, pending: %d %s, want 504 like the authenticated download", status, body)
	}
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// TestUnauthenticatedRoutesLimitedPerAddress: the routes without a token
// have a token bucket per client address (issue 14, item 7).
func TestUnauthenticatedRoutesLimitedPerAddress(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{api: func(o *Options) { o.UnauthenticatedPerSecond, o.UnauthenticatedBurst = 0.2, 3 }})
	limited := 0
	for i := 0; i < 6; i++ {
		status, h, body := f.do(t, "GET", "/_matrix/media/v3/download/example.org/nothere", "", nil)
		switch status {
		case http.StatusNotFound:
		case http.StatusTooManyRequests:
			limited++
			if h.Get("Retry-After") == "" || !strings.Contains(body, "M_LIMIT_EXCEEDED") {
				t.Errorf("429 without Retry-After or errcode: %v %s", h, body)
			}
		default:
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	if limited != 3 {
		t.Fatalf("%d of 6 requests limited with a burst of 3, want 3", limited)
	}
}

// TestRemoteFetchStopsWhenEveryClientLeft: a federation fetch started for
// a download is cancelled once no request waits for it any more, instead
// of running on to its timeout (issue 14, item 7).
func TestRemoteFetchStopsWhenEveryClientLeft(t *testing.T) {
	peer := newStallingPeer(t)
	f := newPublicFixture(t, fixtureOptions{remote: withPeer(peer)})
	tok := f.hs.Token("alice")
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/_matrix/client/v1/media/download/"+peer.name()+"/gone"+string(rune('a'+i)), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the stalled fetch answered %d", resp.StatusCode)
		}
		cancel()
	}
	deadline := time.Now().Add(10 * time.Second)
	for peer.released.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := peer.released.Load(); got != 3 {
		t.Fatalf("%d of 3 abandoned fetches stopped (hits %d); the others run on without a client", got, peer.hits.Load())
	}
}
