package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mediarepo/mediarepo/internal/session/sessiontest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// EnvScreenshots names a directory that keeps the browser test's
// screenshots, JPEG (default: the test's temporary directory).
const EnvScreenshots = "MEDIAREPO_TEST_SCREENSHOTS"

// startOfficers starts mediarepo with a homeserver stub that logs officers
// in (password, SSO) and out and answers whoami for the public API.
func startOfficers(t *testing.T) (*instance, *sessiontest.Homeserver) {
	t.Helper()
	hs := sessiontest.New(t, "example.org", map[string]string{"officer": "pw-officer", "eve": "pw-eve"})
	s := newSetup(t, &homeserver{Server: hs.Server})
	s.extra = `officers:
  users: ["@officer:example.org"]
  cookie_secure: false
  idle_timeout: 10m
`
	return start(t, s), hs
}

// browser starts Debian's headless Chromium; a missing browser fails the
// test (scripts/testenv installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: run `make test` (scripts/testenv installs Debian's chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("lang", "de-DE"), chromedp.Flag("accept-lang", "de-DE,de"), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(85))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv(EnvScreenshots)
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func browse(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// uploadEICAR uploads the EICAR test file as a user and waits until the
// scan workers quarantined it.
func uploadEICAR(t *testing.T, in *instance, token string) (string, string) {
	t.Helper()
	status, _, body := doHTTP(t, "POST", in.URL+"/_matrix/media/v3/upload?filename=eicar.com", token, testenv.EICAR())
	if status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	var up struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(body, &up); err != nil {
		t.Fatal(err)
	}
	id := up.ContentURI[strings.LastIndex(up.ContentURI, "/")+1:]
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, body = doHTTP(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+id+"?timeout_ms=5000", token, nil)
		if status == 403 && strings.Contains(string(body), "MCS_MEDIA_NOT_CLEAN") {
			return id, up.ContentURI
		}
		if time.Now().After(deadline) {
			t.Fatalf("EICAR not quarantined: %d %s", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func doHTTP(t *testing.T, method, url, token string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	return do(t, method, url, token, bytes.NewReader(body), nil)
}

// TestOfficerReviewsInBrowser is the officers' tour in a real browser:
// log in, see the quarantined EICAR upload, open it, release it with a
// reason, see it served and the audit entry; a form without its CSRF token
// is refused, and a Matrix user who is no officer cannot get in.
func TestOfficerReviewsInBrowser(t *testing.T) {
	in, hs := startOfficers(t)
	userTok := hs.Token("mallory")
	id, _ := uploadEICAR(t, in, userTok)
	ctx := browser(t)

	browse(t, ctx, chromedp.Navigate(in.Admin+"/officers/"), chromedp.WaitVisible(chromedp.ID("password")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("not sent to the login page: %s", loc)
	}
	screenshot(t, ctx, "officers-login.jpg")
	browse(t, ctx,
		chromedp.SendKeys(chromedp.ID("user"), "officer"),
		chromedp.SendKeys(chromedp.ID("password"), "pw-officer"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("table")))
	page := text(t, ctx)
	if !strings.Contains(page, "mxc://example.org/"+id) || !strings.Contains(page, "Eicar") || !strings.Contains(page, "in Quarantäne") {
		t.Fatalf("EICAR upload not in the (German) quarantine list:\n%s", page)
	}
	screenshot(t, ctx, "officers-list.jpg")
	checkDailyChart(t, ctx)

	browse(t, ctx, chromedp.Click(chromedp.CSS(`a[href$="/`+id+`"]`)), chromedp.WaitVisible(chromedp.ID("release-reason")))
	page = text(t, ctx)
	for _, want := range []string{"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "@mallory:example.org", "verdict_infected", "eicar.com"} {
		if !strings.Contains(page, want) {
			t.Errorf("details page lacks %q", want)
		}
	}
	screenshot(t, ctx, "officers-details.jpg")

	// A form stripped of its CSRF token is refused and changes nothing.
	browse(t, ctx, chromedp.SendKeys(chromedp.ID("release-reason"), "forged"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelectorAll('input[name=csrf]').forEach(e => e.remove()), true`)); err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, chromedp.Click(chromedp.ID("release-submit")), chromedp.WaitVisible(chromedp.CSS(".error")))
	if page = text(t, ctx); !strings.Contains(page, "CSRF") {
		t.Fatalf("form without CSRF token not refused:\n%s", page)
	}
	if status, _, _ := doHTTP(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+id, userTok, nil); status != 403 {
		t.Fatalf("a refused form released the media: %d", status)
	}

	browse(t, ctx, chromedp.Navigate(in.Admin+"/officers/media/example.org/"+id), chromedp.WaitVisible(chromedp.ID("release-reason")),
		chromedp.SendKeys(chromedp.ID("release-reason"), "Testdatei der IT-Sicherheit, Ticket 4711"),
		chromedp.Click(chromedp.ID("release-submit")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if page = text(t, ctx); !strings.Contains(page, "Freigegeben.") || !strings.Contains(page, "Ticket 4711") {
		t.Fatalf("release not confirmed:\n%s", page)
	}
	status, _, body := doHTTP(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+id, userTok, nil)
	if status != 200 || !bytes.Equal(body, testenv.EICAR()) {
		t.Fatalf("released media not served: %d", status)
	}

	browse(t, ctx, chromedp.Navigate(in.Admin+"/officers/audit?action=release"), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	page = text(t, ctx)
	if !strings.Contains(page, "@officer:example.org") || !strings.Contains(page, "Ticket 4711") || !strings.Contains(page, "quarantined → clean") {
		t.Fatalf("audit entry missing:\n%s", page)
	}
	screenshot(t, ctx, "officers-audit.jpg")

	// Phone width: the list is still usable (screenshot for the eye).
	browse(t, ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(in.Admin+"/officers/?state=clean"), chromedp.WaitVisible(chromedp.CSS("table")))
	screenshot(t, ctx, "officers-phone.jpg")

	// Logging out removes the homeserver device.
	browse(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.ID("password")))
	if n := hs.LiveDevices("@officer:example.org"); n != 0 {
		t.Fatalf("logout left %d devices", n)
	}

	// A Matrix user who is no officer gets 403 and no device is left behind.
	browse(t, ctx,
		chromedp.SendKeys(chromedp.ID("user"), "eve"),
		chromedp.SendKeys(chromedp.ID("password"), "pw-eve"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	if page = text(t, ctx); !strings.Contains(page, "Zugriff verweigert") && !strings.Contains(page, "Access denied") {
		t.Fatalf("non-officer not refused:\n%s", page)
	}
	if n := hs.LiveDevices("@eve:example.org"); n != 0 {
		t.Fatalf("refused login left %d devices", n)
	}
	browse(t, ctx, chromedp.Navigate(in.Admin+"/officers/"), chromedp.WaitVisible(chromedp.ID("password")))

	// The API refuses the non-officer's token too.
	if status, _, _ := doHTTP(t, "GET", in.Admin+"/officers/api/v1/media", hs.Token("eve"), nil); status != 403 {
		t.Fatalf("API for a non-officer: %d", status)
	}
}

// checkDailyChart: the list page shows the server-rendered SVG chart of
// the last 30 days with today's infection (the EICAR upload) counted, and
// the page runs no script (its CSP allows none).
func checkDailyChart(t *testing.T, ctx context.Context) {
	t.Helper()
	today := time.Now().UTC().Format(time.DateOnly)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`({
		bars: document.querySelectorAll('#daily-chart rect.bar').length,
		infectedToday: document.querySelector('#daily-chart rect[data-kind=infected][data-day="`+today+`"]')?.getAttribute('data-count'),
		heightToday: document.querySelector('#daily-chart rect[data-kind=infected][data-day="`+today+`"]')?.getBoundingClientRect().height,
		scripts: document.scripts.length,
		title: document.querySelector('#daily-chart title')?.textContent,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if got["bars"] != float64(60) || got["infectedToday"] != "1" || got["scripts"] != float64(0) {
		t.Fatalf("daily chart: %v (want 60 bars, 1 infection today, no script)", got)
	}
	if h, _ := got["heightToday"].(float64); h <= 0 {
		t.Errorf("today's infection bar is not drawn: %v", got)
	}
	if title, _ := got["title"].(string); !strings.Contains(title, "Infektionen und Sperrungen je Tag") {
		t.Errorf("chart title %q is not the German one", title)
	}
}
