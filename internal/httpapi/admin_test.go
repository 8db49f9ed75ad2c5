package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/review"
	"github.com/mediarepo/mediarepo/internal/session"
	"github.com/mediarepo/mediarepo/internal/session/sessiontest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// adminFixture is the officers' handler over real parts: embedded NATS
// (catalog, audit, sessions), a sealed filesystem store, and a homeserver
// stub for whoami, login and logout.
type adminFixture struct {
	srv   *httptest.Server
	hs    *sessiontest.Homeserver
	cat   *kv.Catalog
	audit *audit.Log
	queue *queue.Queue
}

const officerID = "@officer:example.org"

func newAdminFixture(t *testing.T, secure bool) *adminFixture {
	t.Helper()
	return newAdminFixtureWith(t, secure, nil)
}

// newAdminFixtureWith is newAdminFixture with the wiring adjusted by
// adjust before the handler is built.
func newAdminFixtureWith(t *testing.T, secure bool, adjust func(*AdminDeps, *AdminOptions)) *adminFixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, err := nats.Connect(testenv.NATSURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cat, blobs, _ := realParts(t, js, log)
	aud, err := audit.Open(ctx, js, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := sessiontest.New(t, "example.org", map[string]string{"officer": "pw-officer", "eve": "pw-eve"})
	login := &session.Homeserver{Client: &http.Client{Timeout: 5 * time.Second}}
	sessions, err := session.New(ctx, js, session.Options{}, login, log)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := review.New(cat, blobs, nil, aud, review.Options{MediaPrefix: "media/", QuarantinePrefix: "quarantine/"}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.New(ctx, js, queue.Options{}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps := AdminDeps{Review: rv, Audit: aud, Sessions: sessions, Login: login,
		Auth: auth.NewWhoami(map[string]string{"example.org": hs.URL}, &http.Client{Timeout: 5 * time.Second}, 0, 0), Log: log,
		Backlog: q, Rescan: cat}
	opts := AdminOptions{Officers: []string{officerID}, Homeserver: hs.URL, LoginMethods: []string{LoginPassword, LoginSSO, LoginToken}, CookieSecure: secure,
		BodyDeadline: time.Second}
	if adjust != nil {
		adjust(&deps, &opts)
	}
	a, err := NewAdmin(deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &adminFixture{srv: srv, hs: hs, cat: cat, audit: aud, queue: q}
}

// quarantined seeds a record as a worker leaves an infected upload.
func (f *adminFixture) quarantined(t *testing.T) media.Record {
	t.Helper()
	ctx := context.Background()
	rec := media.NewPending("example.org", media.NewMediaID(), "@mallory:example.org", time.Now(), media.Content{Size: 68,
		SHA256: strings.Repeat("ab", 32), BlobKey: "media/x", Filename: "eicar.com"})
	if _, err := f.cat.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	v := media.Verdict{Result: media.ResultInfected, Signature: "Eicar-Signature", ScannedAt: time.Now(),
		Engine: "clamd+kaspersky", Engines: []media.EngineFinding{
			{Name: "clamd", Result: media.ResultInfected, Signature: "Eicar-Signature", Engine: "ClamAV", EngineVersion: "1.4.6", SignatureVersion: "27000"},
			{Name: "kaspersky", Error: "icap kav:1344 answered 506 Server too busy"},
		}}
	rec, _, err := catalog.Apply(ctx, f.cat, rec.Origin, rec.ID, media.Change{Transition: media.VerdictInfected, At: time.Now(), Actor: "scanworker", Verdict: &v})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func noRedirect() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func call(t *testing.T, c *http.Client, method, u, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost && strings.Contains(body, "=") && !strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAdminAPIAuth(t *testing.T) {
	f := newAdminFixture(t, true)
	c := noRedirect()
	api := f.srv.URL + AdminAPIPrefix
	// Every API route refuses a request without a token, whatever the method.
	for _, rt := range (&Admin{}).adminAPIRoutes() {
		path := strings.NewReplacer("{serverName}", "example.org", "{mediaId}", "abc", "{userId}", "@a:example.org", "{sha256}", strings.Repeat("0", 64)).Replace(rt.path)
		resp, body := call(t, c, rt.methods[0], api+path, "", "{}")
		if resp.StatusCode != 401 || !strings.Contains(body, "M_MISSING_TOKEN") {
			t.Errorf("%s %s without token: %d %s", rt.methods[0], rt.path, resp.StatusCode, body)
		}
	}
	if resp, _ := call(t, c, "GET", api+"/whoami", "nope", ""); resp.StatusCode != 401 {
		t.Fatalf("unknown token: %d", resp.StatusCode)
	}
	if resp, body := call(t, c, "GET", api+"/media", f.hs.Token("eve"), ""); resp.StatusCode != 403 || !strings.Contains(body, "M_FORBIDDEN") {
		t.Fatalf("non-officer: %d %s", resp.StatusCode, body)
	}
	tok := f.hs.Token("officer")
	if resp, body := call(t, c, "GET", api+"/whoami", tok, ""); resp.StatusCode != 200 || !strings.Contains(body, officerID) {
		t.Fatalf("officer whoami: %d %s", resp.StatusCode, body)
	}
	if resp, _ := call(t, c, "POST", api+"/users/@a:example.org/erase", tok, `{"reason":"x"}`); resp.StatusCode != 403 {
		t.Fatalf("officer (not admin) erase: %d", resp.StatusCode)
	}

	// The API's own flow: list, details, a release without and with reason.
	rec := f.quarantined(t)
	resp, body := call(t, c, "GET", api+"/media?signature=eicar", tok, "")
	var page review.Page
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &page) != nil || len(page.Items) != 1 {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	m := api + "/media/example.org/" + rec.ID
	if resp, body := call(t, c, "POST", m+"/release", tok, `{"reason":""}`); resp.StatusCode != 400 || !strings.Contains(body, "M_MISSING_PARAM") {
		t.Fatalf("release without reason: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, c, "POST", m+"/release", tok, `{"reason":"false positive"}`); resp.StatusCode != 200 || !strings.Contains(body, `"changed":true`) {
		t.Fatalf("release: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, c, "POST", m+"/delete", tok, `{"reason":"x","bogus":1}`); resp.StatusCode != 400 {
		t.Fatalf("unknown field: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, c, "GET", api+"/audit?action=release", tok, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "false positive") || !strings.Contains(body, officerID) {
		t.Fatalf("audit: %d %s", resp.StatusCode, body)
	}
	// Query-string tokens are refused like on the public API.
	if resp, _ := call(t, c, "GET", api+"/whoami?access_token="+tok, "", ""); resp.StatusCode == 200 {
		t.Fatal("query-string token accepted")
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in through the page and returns the client and the session's CSRF token.
func (f *adminFixture) login(t *testing.T, user, password string) (*http.Client, *http.Response, string) {
	t.Helper()
	c := noRedirect()
	_, body := call(t, c, "GET", f.srv.URL+"/login", "", "")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the login page:\n%s", body)
	}
	form := url.Values{"csrf": {m[1]}, "method": {"password"}, "user": {user}, "password": {password}}
	resp, _ := call(t, c, "POST", f.srv.URL+"/login", "", form.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		return c, resp, ""
	}
	_, page := call(t, c, "GET", f.srv.URL+"/officers/", "", "")
	m = csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the list page:\n%s", page)
	}
	return c, resp, m[1]
}

func TestPageLoginCSRFAndLogout(t *testing.T) {
	f := newAdminFixture(t, false)
	rec := f.quarantined(t)

	// Nothing under the prefix answers without a session.
	c := noRedirect()
	for _, p := range []string{"/officers/", "/officers/media/example.org/" + rec.ID, "/officers/audit", "/officers/users", "/officers/nonexistent"} {
		resp, body := call(t, c, "GET", f.srv.URL+p, "", "")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" || strings.Contains(body, rec.ID) {
			t.Errorf("%s without session: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// The login form needs its CSRF token.
	resp, _ := call(t, c, "POST", f.srv.URL+"/login", "", url.Values{"method": {"password"}, "user": {"officer"}, "password": {"pw-officer"}}.Encode())
	if resp.StatusCode != 403 {
		t.Fatalf("login without CSRF token: %d", resp.StatusCode)
	}
	if _, resp, _ := f.login(t, "officer", "wrong"); resp.StatusCode != 403 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	// A valid Matrix user who is no officer is refused and logged out again.
	if _, resp, _ := f.login(t, "eve", "pw-eve"); resp.StatusCode != 403 {
		t.Fatalf("non-officer: %d", resp.StatusCode)
	}
	if n := f.hs.LiveDevices("@eve:example.org"); n != 0 {
		t.Fatalf("refused login left %d devices behind", n)
	}

	oc, resp, csrf := f.login(t, "officer", "pw-officer")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("officer login: %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "mediarepo_officer" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.MaxAge <= 0 {
		t.Fatalf("session cookie: %+v", cookie)
	}
	if f.hs.LiveDevices(officerID) != 1 {
		t.Fatal("login did not create a homeserver device")
	}
	resp, body := call(t, oc, "GET", f.srv.URL+"/officers/", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, rec.ID) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("list page: %d", resp.StatusCode)
	}
	// The list page shows the scan backlog (an import queues thousands).
	for i := range 3 {
		pending := media.NewPending("example.org", media.NewMediaID(), "@alice:example.org", time.Now(), media.Content{})
		if err := f.queue.Enqueue(context.Background(), pending, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// The consumer's pending count follows the publishes a moment later
	// (a CI run read 0 right after them): wait for it, then read the page.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := f.queue.Pending(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue shows %d pending jobs 30 s after 3 were enqueued", n)
		}
	}
	if _, body := call(t, oc, "GET", f.srv.URL+"/officers/", "", ""); !strings.Contains(body, "Prüfwarteschlange: <strong>3</strong> warten") {
		t.Fatalf("list page without the scan backlog of 3 jobs:\n%s", body)
	}

	// The list page shows the progress of a rescan after a signature update.
	if _, err := f.cat.PutRescanState(context.Background(), catalog.RescanState{Basis: "ClamAV 1.4.6/27001; zip-inspection r3",
		Previous: "ClamAV 1.4.6/27000; zip-inspection r3", StartedAt: time.Now(), Since: time.Now().Add(-7 * 24 * time.Hour),
		Total: 120, Done: 45, Infected: 2}, 0); err != nil {
		t.Fatal(err)
	}
	if _, body := call(t, oc, "GET", f.srv.URL+"/officers/", "", ""); !strings.Contains(body, "Erneute Prüfung nach Signaturaktualisierung (ClamAV 1.4.6/27001") ||
		!strings.Contains(body, "<strong>45</strong> von 120 geprüft, <strong>2</strong> infiziert und in Quarantäne") {
		t.Fatalf("list page without the rescan's progress:\n%s", body)
	}

	// The details show each engine's part of the verdict.
	resp, body = call(t, oc, "GET", f.srv.URL+"/officers/media/example.org/"+rec.ID, "", "")
	for _, want := range []string{"kaspersky", "ClamAV 1.4.6", "27000", "506 Server too busy"} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("details page (%d) lacks the engine part %q", resp.StatusCode, want)
		}
	}

	action := f.srv.URL + "/officers/media/example.org/" + rec.ID + "/release"
	resp, _ = call(t, oc, "POST", action, "", url.Values{"reason": {"looks fine"}}.Encode())
	if resp.StatusCode != 403 {
		t.Fatalf("action without CSRF token: %d", resp.StatusCode)
	}
	resp, _ = call(t, oc, "POST", action, "", url.Values{"reason": {"looks fine"}, "csrf": {"forged"}}.Encode())
	if resp.StatusCode != 403 {
		t.Fatalf("action with a wrong CSRF token: %d", resp.StatusCode)
	}
	if got, _, _ := f.cat.Get(context.Background(), "example.org", rec.ID); got.State != media.StateQuarantined {
		t.Fatal("a refused form changed the record")
	}
	resp, _ = call(t, oc, "POST", action, "", url.Values{"reason": {"looks fine"}, "csrf": {csrf}}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("release: %d", resp.StatusCode)
	}
	if got, _, _ := f.cat.Get(context.Background(), "example.org", rec.ID); got.State != media.StateClean {
		t.Fatalf("release did not happen: %s", got.State)
	}
	resp, body = call(t, oc, "GET", f.srv.URL+"/officers/audit", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "looks fine") || !strings.Contains(body, "login") {
		t.Fatalf("audit page: %d", resp.StatusCode)
	}

	resp, _ = call(t, oc, "POST", f.srv.URL+"/logout", "", url.Values{"csrf": {csrf}}.Encode())
	if resp.StatusCode != http.StatusSeeOther || f.hs.LiveDevices(officerID) != 0 {
		t.Fatalf("logout: %d, devices left %d", resp.StatusCode, f.hs.LiveDevices(officerID))
	}
	if resp, _ := call(t, oc, "GET", f.srv.URL+"/officers/", "", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("page after logout: %d", resp.StatusCode)
	}
}

func TestSecureCookieAndSSO(t *testing.T) {
	f := newAdminFixture(t, true)
	c := noRedirect()
	resp, _ := call(t, c, "GET", f.srv.URL+"/login/sso", "", "")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), f.hs.URL+"/_matrix/client/v3/login/sso/redirect?redirectUrl=") {
		t.Fatalf("sso start: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Follow the identity provider back, carrying the (Lax) state cookie by hand:
	// the test server is plain HTTP and the jar keeps Secure cookies to itself.
	var state *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == ssoStateCookie {
			state = ck
		}
	}
	idp, _ := call(t, c, "GET", resp.Header.Get("Location"), "", "")
	back := idp.Header.Get("Location")
	if !strings.HasPrefix(back, "https://"+strings.TrimPrefix(f.srv.URL, "http://")+"/login/sso/callback?") {
		t.Fatalf("SSO return address: %s", back)
	}
	back = "http://" + strings.TrimPrefix(back, "https://") // the test server speaks plain HTTP
	req, _ := http.NewRequest("GET", back, nil)
	req.AddCookie(&http.Cookie{Name: state.Name, Value: state.Value})
	cb, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cb.Body.Close()
	var sess *http.Cookie
	for _, ck := range cb.Cookies() {
		if ck.Name == "__Host-mediarepo_officer" {
			sess = ck
		}
	}
	if cb.StatusCode != 200 || sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" {
		t.Fatalf("sso callback: %d %+v", cb.StatusCode, sess)
	}
	// A callback without the state cookie is refused.
	if resp, _ := call(t, noRedirect(), "GET", back, "", ""); resp.StatusCode != 403 {
		t.Fatalf("callback without state: %d", resp.StatusCode)
	}
}

// TestTranslations checks that both languages have the same keys and that
// every key a template uses exists.
func TestTranslations(t *testing.T) {
	for k := range catalogs["de"] {
		if _, ok := catalogs["en"][k]; !ok {
			t.Errorf("%s: German only", k)
		}
	}
	for k := range catalogs["en"] {
		if _, ok := catalogs["de"][k]; !ok {
			t.Errorf("%s: English only", k)
		}
	}
	dir := "web/templates/"
	entries, err := readDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\.T\.([a-z0-9_]+)`)
	for name, text := range entries {
		for _, m := range used.FindAllStringSubmatch(text, -1) {
			if _, ok := catalogs["de"][m[1]]; !ok {
				t.Errorf("%s uses %s, which has no text", name, m[1])
			}
		}
	}
	for _, prefix := range []string{"state_", "result_"} {
		var values []string
		if prefix == "state_" {
			for _, s := range media.States {
				values = append(values, string(s))
			}
		} else {
			values = []string{"clean", "infected", "unscannable", "failed", "type_forbidden", "hash_blocked"}
		}
		for _, v := range values {
			if _, ok := catalogs["en"][prefix+v]; !ok {
				t.Errorf("no text for %s%s", prefix, v)
			}
		}
	}
}

func readDir(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(dir + e.Name())
		if err != nil {
			return nil, err
		}
		out[e.Name()] = string(b)
	}
	return out, nil
}
