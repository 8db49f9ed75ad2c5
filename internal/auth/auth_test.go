package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// homeserver is a real HTTP server answering whoami like Synapse does.
func homeserver(t *testing.T, users map[string]string, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/_matrix/client/v3/account/whoami" {
			http.NotFound(w, r)
			return
		}
		tok, err := BearerToken(r.Header.Get("Authorization"))
		user, ok := users[tok]
		if err != nil || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"}`))
			return
		}
		if user == "@broken:example.org" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"user_id":"` + user + `","device_id":"D"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWhoami(t *testing.T) {
	var calls atomic.Int32
	hs := homeserver(t, map[string]string{
		"alice-token": "@alice:example.org",
		"mallory":     "@mallory:evil.org",
		"broken":      "@broken:example.org",
	}, &calls)
	w := NewWhoami(map[string]string{"example.org": hs.URL + "/"}, hs.Client(), time.Minute, time.Minute)
	ctx := context.Background()

	user, err := w.Authenticate(ctx, "example.org", "alice-token")
	if err != nil || user != "@alice:example.org" {
		t.Fatalf("alice: %q %v", user, err)
	}
	before := calls.Load()
	if user, err := w.Authenticate(ctx, "example.org", "alice-token"); err != nil || user != "@alice:example.org" || calls.Load() != before {
		t.Fatalf("cached alice: %q %v, calls %d→%d", user, err, before, calls.Load())
	}
	for i := 0; i < 2; i++ { // the second time comes from the negative cache
		if _, err := w.Authenticate(ctx, "example.org", "nope"); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("unknown token: %v", err)
		}
	}
	if calls.Load() != before+1 {
		t.Fatalf("negative cache not used: %d calls", calls.Load()-before)
	}
	if _, err := w.Authenticate(ctx, "example.org", "mallory"); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("user of another server name: %v", err)
	}
	if _, err := w.Authenticate(ctx, "example.org", "broken"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("homeserver 500: %v", err)
	}
	if _, err := w.Authenticate(ctx, "other.org", "alice-token"); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("unknown server name: %v", err)
	}
	hs.Close()
	w2 := NewWhoami(map[string]string{"example.org": hs.URL}, hs.Client(), time.Minute, time.Minute)
	if _, err := w2.Authenticate(ctx, "example.org", "alice-token"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("homeserver down must be unavailable, never a pass or a 401: %v", err)
	}
}

func TestWhoamiCacheExpires(t *testing.T) {
	var calls atomic.Int32
	hs := homeserver(t, map[string]string{"t": "@a:example.org"}, &calls)
	w := NewWhoami(map[string]string{"example.org": hs.URL}, hs.Client(), time.Second, time.Second)
	now := time.Now()
	w.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if _, err := w.Authenticate(context.Background(), "example.org", "t"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Second)
	}
	if calls.Load() != 3 {
		t.Fatalf("expired entries must be asked again: %d calls", calls.Load())
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		err           error
	}{
		{"", "", ErrMissingToken},
		{"Bearer abc", "abc", nil},
		{"bearer abc", "abc", nil},
		{"Basic abc", "", ErrUnknownToken},
		{"Bearer ", "", ErrUnknownToken},
		{"Bearer", "", ErrUnknownToken},
	} {
		tok, err := BearerToken(tc.header)
		if tok != tc.token || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%q: %q %v, want %q %v", tc.header, tok, err, tc.token, tc.err)
		}
	}
}

func TestStatic(t *testing.T) {
	s := NewStatic(map[string]string{"dev": "@dev:localhost"})
	if u, err := s.Authenticate(context.Background(), "localhost", "dev"); err != nil || u != "@dev:localhost" {
		t.Fatalf("%q %v", u, err)
	}
	if _, err := s.Authenticate(context.Background(), "localhost", "x"); !errors.Is(err, ErrUnknownToken) {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(context.Background(), "other", "dev"); !errors.Is(err, ErrUnknownToken) {
		t.Fatal(err)
	}
}

// TestJunkTokensDoNotFlushValidTokens: valid and unknown tokens are kept
// in separate bounded caches, so a flood of fresh junk tokens (each of
// which costs one whoami) never evicts the valid ones and turns every
// user's next request into another whoami (issue 14, item 14).
func TestJunkTokensDoNotFlushValidTokens(t *testing.T) {
	var calls atomic.Int32
	hs := homeserver(t, map[string]string{"alice-token": "@alice:example.org"}, &calls)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
	w := NewWhoami(map[string]string{"example.org": hs.URL}, client, time.Hour, time.Hour)
	// Small bounds keep the test short; before the fix one cache of
	// 100,000 entries for both was cleared by 100,001 junk tokens (checked
	// once: 51 s, and alice's token cost another whoami).
	w.maxValid, w.maxInvalid = 50, 100
	ctx := context.Background()
	if _, err := w.Authenticate(ctx, "example.org", "alice-token"); err != nil {
		t.Fatal(err)
	}
	const junk = 2_000
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= junk; i = next.Add(1) {
				if _, err := w.Authenticate(ctx, "example.org", "junk-"+strconv.FormatInt(i, 10)); !errors.Is(err, ErrUnknownToken) {
					t.Errorf("junk token %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	before := calls.Load()
	if user, err := w.Authenticate(ctx, "example.org", "alice-token"); err != nil || user != "@alice:example.org" {
		t.Fatalf("alice after the flood: %q %v", user, err)
	}
	if calls.Load() != before {
		t.Fatal("the flood of junk tokens evicted a valid token: it cost another whoami")
	}
	if n := w.cachedInvalid(); n > w.maxInvalid {
		t.Fatalf("%d unknown tokens cached, bound %d", n, w.maxInvalid)
	}
}
