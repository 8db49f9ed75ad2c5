package session

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/session/sessiontest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// startJetStream is testenv.JetStream: a real embedded NATS server.
func startJetStream(t *testing.T) jetstream.JetStream { return testenv.JetStream(t) }

// clock is a settable time for the store.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newStore(t *testing.T, js jetstream.JetStream, hs *Homeserver) (*Store, *clock) {
	t.Helper()
	st, err := New(context.Background(), js, Options{TTL: time.Hour, Idle: 10 * time.Minute}, hs,
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	st.now = c.now
	return st, c
}

func login(t *testing.T, hs *sessiontest.Homeserver, client *Homeserver) Login {
	t.Helper()
	l, err := client.LoginPassword(context.Background(), hs.URL, "alice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLoginAndLogout(t *testing.T) {
	ctx := context.Background()
	hs := sessiontest.New(t, "example.org", map[string]string{"alice": "s3cret"})
	client := &Homeserver{Client: &http.Client{Timeout: 5 * time.Second}}
	if _, err := client.LoginPassword(ctx, hs.URL, "alice", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	flows, err := client.Flows(ctx, hs.URL)
	if err != nil || !slices.Contains(flows, "m.login.password") || !slices.Contains(flows, "m.login.sso") {
		t.Fatalf("flows %v %v", flows, err)
	}
	st, _ := newStore(t, startJetStream(t), client)
	l := login(t, hs, client)
	if l.UserID != "@alice:example.org" || !hs.Live(l.AccessToken) {
		t.Fatalf("login %+v", l)
	}
	id, s, err := st.Create(ctx, Session{UserID: l.UserID, Method: MethodPassword, Homeserver: hs.URL, AccessToken: l.AccessToken, DeviceID: l.DeviceID})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, id)
	if err != nil || got.UserID != "@alice:example.org" || !got.CheckCSRF(s.CSRF) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if got.CheckCSRF("") || got.CheckCSRF(s.CSRF+"x") {
		t.Fatal("a wrong CSRF token passed")
	}
	if _, err := st.Get(ctx, id+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown ID: %v", err)
	}
	if _, err := st.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if hs.Live(l.AccessToken) {
		t.Fatal("logout left the homeserver device behind")
	}
	if _, err := st.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after logout: %v", err)
	}
}

func TestSSOTokenLogin(t *testing.T) {
	hs := sessiontest.New(t, "example.org", nil)
	client := &Homeserver{Client: &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := client.Client.Get(SSORedirect(hs.URL, "http://127.0.0.1:1/officers/login/sso?x=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	lt := back.Query().Get("loginToken")
	l, err := client.LoginToken(context.Background(), hs.URL, lt)
	if err != nil || l.UserID != "@officer:example.org" {
		t.Fatalf("token login: %+v %v", l, err)
	}
	if _, err := client.LoginToken(context.Background(), hs.URL, lt); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("login token reused: %v", err)
	}
}

func TestExpiryLogsOut(t *testing.T) {
	ctx := context.Background()
	hs := sessiontest.New(t, "example.org", map[string]string{"alice": "s3cret"})
	client := &Homeserver{Client: &http.Client{Timeout: 5 * time.Second}}
	st, clk := newStore(t, startJetStream(t), client)
	start := clk.t

	// Idle: used within the idle timeout it lives on; left alone it ends.
	l := login(t, hs, client)
	id, _, err := st.Create(ctx, Session{UserID: l.UserID, Method: MethodPassword, Homeserver: hs.URL, AccessToken: l.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	clk.t = start.Add(8 * time.Minute)
	if _, err := st.Get(ctx, id); err != nil {
		t.Fatalf("within idle timeout: %v", err)
	}
	clk.t = start.Add(16 * time.Minute) // 8 min after the last use
	if _, err := st.Get(ctx, id); err != nil {
		t.Fatalf("the touch did not restart the idle timer: %v", err)
	}
	clk.t = start.Add(27 * time.Minute)
	if _, err := st.Get(ctx, id); !errors.Is(err, ErrExpired) {
		t.Fatalf("idle session served: %v", err)
	}
	if hs.Live(l.AccessToken) {
		t.Fatal("expired session's device still logged in")
	}
	if _, err := st.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session kept: %v", err)
	}

	// Absolute TTL, found by the sweeper; a failing homeserver keeps the
	// session for a later sweep.
	clk.t = start
	l2 := login(t, hs, client)
	id2, _, err := st.Create(ctx, Session{UserID: l2.UserID, Method: MethodPassword, Homeserver: hs.URL, AccessToken: l2.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	l3 := login(t, hs, client)
	if _, _, err := st.Create(ctx, Session{UserID: l3.UserID, Method: MethodPassword, Homeserver: hs.URL, AccessToken: l3.AccessToken}); err != nil {
		t.Fatal(err)
	}
	for m := 5; m < 60; m += 5 { // keep id2 busy: only the TTL can end it
		clk.t = start.Add(time.Duration(m) * time.Minute)
		if _, err := st.Get(ctx, id2); err != nil {
			t.Fatalf("at %d min: %v", m, err)
		}
	}
	clk.t = start.Add(61 * time.Minute)
	hs.SetDown(true)
	if n, err := st.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep with homeserver down: %d %v", n, err)
	}
	hs.SetDown(false)
	if n, err := st.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if hs.Live(l2.AccessToken) || hs.Live(l3.AccessToken) {
		t.Fatal("swept sessions' devices still logged in")
	}
	if _, err := st.Get(ctx, id2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("swept session: %v", err)
	}
}
