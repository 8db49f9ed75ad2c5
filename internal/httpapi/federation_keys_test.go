package httpapi

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	mfed "maunium.net/go/mautrix/federation"

	"github.com/mediarepo/mediarepo/internal/federation"
)

// TestFederationKeyFetchIsNoOracle: an unsigned-for-us request may name
// any host:port as its origin, and mediarepo then connects there for its
// keys. The answer is a generic 401 that says nothing of what the
// connection found, and fetches for origins whose keys are unknown are
// rate-limited per client address (issue 14, item 17).
func TestFederationKeyFetchIsNoOracle(t *testing.T) {
	// Six "servers" that accept a TCP connection and hang up at once.
	var accepted atomic.Int64
	var origins []string
	for i := 0; i < 6; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		origins = append(origins, l.Addr().String())
	}
	client := federation.NewClient(federation.ClientOptions{ServerName: "example.org", Key: mfed.GenerateSigningKey(),
		Policy: federation.AddrPolicy{AllowPrivate: true}, Timeout: 5 * time.Second})
	verifier := federation.NewVerifier(federation.NewKeyStore(client), federation.NewPeerACL(nil), func(n string) bool { return n == "example.org" })
	verifier.SetFetchGate(NewAddrLimiter(ClientAddrs{}, 0.01, 3).Allow)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	fed := NewFederation(nil, verifier, FederationOptions{DefaultServer: "example.org", DefaultWait: time.Second, MaxWait: time.Second}, log, prometheus.NewRegistry())
	srv := httptest.NewServer(fed)
	t.Cleanup(srv.Close)
	var unauthorized, limited int
	for _, origin := range origins {
		req, _ := http.NewRequest("GET", srv.URL+"/_matrix/federation/v1/media/download/abc", nil)
		req.Header.Set("Authorization", `X-Matrix origin="`+origin+`",destination="example.org",key="ed25519:a",sig="c2lnbmF0dXJl"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = io.Copy(&body, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			unauthorized++
			for _, leak := range []string{origin, "EOF", "tls", "connect", "handshake", "fetching"} {
				if strings.Contains(body.String(), leak) {
					t.Errorf("the 401 tells what the connection to %s found (%q): %s", origin, leak, body.String())
				}
			}
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("%s: %d %s", origin, resp.StatusCode, body.String())
		}
	}
	if unauthorized != 3 || limited != 3 || accepted.Load() > 3 {
		t.Fatalf("six unknown origins: %d answered 401, %d limited, %d connections made; want 3, 3, ≤ 3", unauthorized, limited, accepted.Load())
	}
}
