package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/daily"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/review"
)

// view is what every page template gets.
type view struct {
	T     map[string]string
	Lang  string
	User  string
	Role  string
	CSRF  string
	Title string // translation key of the title
	Nav   string
	Back  string // this page's path and query, for the language switch
	Flash string
	Error string
	P     any
}

var templateFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"changed": review.ChangedAt,
	"pathesc": url.PathEscape,
	"orid": func(id, name string) string {
		if name == "" {
			return id
		}
		return name
	},
	"size": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return strconv.FormatInt(n, 10) + " B"
	},
}

// render executes a page; a template error is a 500 (rendered into a
// buffer first so that a half page is never sent).
func (a *Admin) render(w http.ResponseWriter, r *http.Request, status int, name string, pc *pageCtx, v view) {
	lang := pickLang(r)
	if pc != nil {
		lang = pc.lang
		v.User, v.Role, v.CSRF = pc.user, pc.role, pc.sess.CSRF
	}
	v.Lang, v.T = lang, translations(lang)
	if v.Back == "" {
		v.Back = r.URL.RequestURI()
	}
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		a.deps.Log.Error("rendering page failed", "request_id", requestID(r.Context()), "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client may have gone
}

// renderError shows err as a page with the status of the one error table.
func (a *Admin) renderError(w http.ResponseWriter, r *http.Request, pc *pageCtx, err error) {
	api := lookup(err)
	if api.status >= 500 {
		a.deps.Log.Error("officers' page failed", "request_id", requestID(r.Context()), "path", r.URL.Path, "status", api.status, "err", err)
	}
	msg := publicMessage(api, err)
	if api.status >= 500 {
		msg += " (" + requestID(r.Context()) + ")"
	}
	title := "error_" + strconv.Itoa(api.status)
	if _, ok := catalogs["de"][title]; !ok {
		title = "error_" + strconv.Itoa(api.status/100*100)
	}
	a.render(w, r, api.status, "error", pc, view{Title: title, Error: msg})
}

// stateChoice is one state checkbox of the list filter.
type stateChoice struct {
	Value   media.State
	Checked bool
}

func (a *Admin) pageList(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	q := r.URL.Query()
	f, err := listFilter(q)
	if err != nil {
		return err
	}
	if !f.Until.IsZero() && q.Get("until") != "" && !strings.Contains(q.Get("until"), "T") {
		f.Until = f.Until.Add(24 * time.Hour) // a date filter includes that day
	}
	if len(f.States) == 0 {
		f.States = []media.State{media.StateQuarantined, media.StateBlocked}
	}
	p, err := a.deps.Review.List(r.Context(), f)
	if err != nil {
		return err
	}
	var states []stateChoice
	for _, s := range []media.State{media.StateQuarantined, media.StateBlocked, media.StatePending, media.StateClean, media.StateDeleted} {
		states = append(states, stateChoice{Value: s, Checked: slices.Contains(f.States, s)})
	}
	next := ""
	if p.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", p.Next)
		next = nq.Encode()
	}
	var chart *dailyChart
	if a.deps.Daily != nil {
		days, err := a.deps.Daily.Last(r.Context(), time.Now(), chartDays, daily.Infected, daily.Blocked)
		if err != nil {
			return err
		}
		c := buildChart(days)
		chart = &c
	}
	a.render(w, r, http.StatusOK, "list", pc, view{Title: "list_title", Nav: "list", P: map[string]any{
		"Q": q, "Items": p.Items, "Next": next, "States": states, "Backlog": a.backlog(r.Context()), "Rescan": a.rescan(r.Context()), "Chart": chart}})
	return nil
}

// backlog is the scan queue's state for the list page, or nil when it is
// not wired or does not answer (the page still shows the list).
func (a *Admin) backlog(ctx context.Context) *queue.Stats {
	if a.deps.Backlog == nil {
		return nil
	}
	st, err := a.deps.Backlog.Stats(ctx)
	if err != nil {
		a.deps.Log.Warn("officers' page: scan queue state unavailable", "err", err)
		return nil
	}
	return &st
}

// rescanView is the rescan's progress on the list page.
type rescanView struct {
	Done, Total, Infected, Failed int64
	// Engines are the engine versions it rescans with; Since is the
	// window's start (UTC, to the minute).
	Engines, Since string
	Finished       bool
}

// rescan is the rescan's progress for the list page, or nil when it is not
// wired, none ever ran, or the catalog does not answer.
func (a *Admin) rescan(ctx context.Context) *rescanView {
	if a.deps.Rescan == nil {
		return nil
	}
	st, _, err := a.deps.Rescan.GetRescanState(ctx)
	if errors.Is(err, media.ErrNotFound) || err == nil && st.Previous == "" && st.Total == 0 {
		return nil // the first signatures ever seen: nothing was rescanned
	}
	if err != nil {
		a.deps.Log.Warn("officers' page: rescan state unavailable", "err", err)
		return nil
	}
	engines, _, _ := strings.Cut(st.Basis, "; ")
	return &rescanView{Done: st.Done, Total: st.Total, Infected: st.Infected, Failed: st.Failed, Engines: engines,
		Since: st.Since.UTC().Format("2006-01-02 15:04"), Finished: !st.FinishedAt.IsZero()}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (a *Admin) pageDetails(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	origin, id, err := mediaVars(r)
	if err != nil {
		return err
	}
	d, err := a.deps.Review.Get(r.Context(), origin, id)
	if err != nil {
		return err
	}
	a.render(w, r, http.StatusOK, "details", pc, view{Title: "details_title", Nav: "list",
		Flash: a.flash(r, pc), P: map[string]any{"D": d}})
	return nil
}

// flash is the message after an action's redirect (?done=action&changed=0|1&n=).
func (a *Admin) flash(r *http.Request, pc *pageCtx) string {
	q := r.URL.Query()
	done := q.Get("done")
	if done == "" {
		return ""
	}
	t := translations(pc.lang)
	msg, ok := t["done_"+done]
	if !ok {
		return ""
	}
	if q.Get("changed") == "0" {
		msg += " " + t["done_unchanged"]
	}
	if n := q.Get("n"); n != "" {
		msg += " (" + n + ")"
	}
	return msg
}

// confirmed reports whether a destructive form's confirmation box was ticked.
func confirmed(r *http.Request) error {
	if r.PostForm.Get("confirm") != "yes" {
		return fmt.Errorf("%w: confirm", review.ErrReasonRequired)
	}
	return nil
}

func (a *Admin) pageAction(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	origin, id, err := mediaVars(r)
	if err != nil {
		return err
	}
	action := mux.Vars(r)["action"]
	if action == "delete" {
		if err := confirmed(r); err != nil {
			return err
		}
	}
	res, err := a.doAction(r.Context(), action, a.request(r, r.PostForm.Get("reason")), origin, id, r.PostForm.Get("lift_hash_block") == "yes")
	if err != nil {
		return err
	}
	changed := "0"
	if res.Changed {
		changed = "1"
	}
	http.Redirect(w, r, fmt.Sprintf("%s/media/%s/%s?done=%s&changed=%s", OfficersPrefix, url.PathEscape(origin), id, action, changed), http.StatusSeeOther)
	return nil
}

func (a *Admin) pageSample(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	origin, id, err := mediaVars(r)
	if err != nil {
		return err
	}
	return a.sendSample(w, r, a.request(r, r.PostForm.Get("reason")), origin, id)
}

func (a *Admin) pageUser(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	user := strings.TrimSpace(r.URL.Query().Get("user"))
	data := map[string]any{"User": user}
	if user != "" {
		items, usage, err := a.deps.Review.ByUploader(r.Context(), user)
		if err != nil {
			return err
		}
		data["Items"], data["Usage"] = items, usage
		if usage.Records() > len(items) {
			data["Total"] = usage.Records()
		}
	}
	top, err := a.deps.Review.TopUsage(r.Context(), 20)
	if err != nil {
		return err
	}
	data["Top"] = top
	a.render(w, r, http.StatusOK, "user", pc, view{Title: "user_title", Nav: "user", Flash: a.flash(r, pc), P: data})
	return nil
}

func (a *Admin) pageUserAction(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	user := strings.TrimSpace(r.PostForm.Get("user"))
	q := a.request(r, r.PostForm.Get("reason"))
	var b review.Bulk
	var err error
	switch mux.Vars(r)["action"] {
	case "quarantine":
		b, err = a.deps.Review.QuarantineUploader(r.Context(), q, user)
	case "erase":
		if pc.role != roleAdmin {
			return ErrNotAdmin
		}
		if err := confirmed(r); err != nil {
			return err
		}
		b, err = a.deps.Review.EraseUploader(r.Context(), q, user)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("%s/users?user=%s&done=user_%s&n=%d", OfficersPrefix, url.QueryEscape(user), mux.Vars(r)["action"], b.Changed), http.StatusSeeOther)
	return nil
}

func (a *Admin) pageHashQuarantine(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	sha := strings.ToLower(strings.TrimSpace(r.PostForm.Get("sha256")))
	b, err := a.deps.Review.QuarantineHash(r.Context(), a.request(r, r.PostForm.Get("reason")), sha)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("%s/?sha256=%s&state=quarantined&state=blocked&state=clean&state=deleted&done=hash&n=%d", OfficersPrefix, sha, b.Changed), http.StatusSeeOther)
	return nil
}

// auditActions are offered in the audit filter.
var auditActions = []string{review.ActionRelease, review.ActionDelete, review.ActionRescan, review.ActionQuarantine,
	review.ActionQuarantineUser, review.ActionQuarantineHash, review.ActionSample, review.ActionEraseUploader,
	review.ActionEraseUploaderRec, actionLogin, actionLogout}

func (a *Admin) pageAudit(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	q := r.URL.Query()
	f, err := auditFilter(q)
	if err != nil {
		return err
	}
	if !f.Until.IsZero() && !strings.Contains(q.Get("until"), "T") {
		f.Until = f.Until.Add(24 * time.Hour)
	}
	p, err := a.deps.Audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	next := ""
	if p.Next != 0 {
		nq := cloneValues(q)
		nq.Set("before", strconv.FormatUint(p.Next, 10))
		next = nq.Encode()
	}
	a.render(w, r, http.StatusOK, "audit", pc, view{Title: "audit_title", Nav: "audit", P: map[string]any{
		"Q": q, "Entries": p.Entries, "Next": next, "Actions": auditActions}})
	return nil
}

func (a *Admin) pageLang(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	lang := r.PostForm.Get("lang")
	if _, ok := catalogs[lang]; !ok {
		return fmt.Errorf("%w: language %q", ErrBadRequest, lang)
	}
	if err := a.deps.Sessions.SetLang(r.Context(), pc.sid, lang); err != nil {
		return err
	}
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, OfficersPrefix+"/") || strings.HasPrefix(back, "//") {
		back = OfficersPrefix + "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// auditEntry is a helper for the login routes' audit entries.
func auditEntry(r *http.Request, action, user, outcome, detail string) audit.Entry {
	return audit.Entry{Actor: user, Action: action, Target: user, Outcome: outcome, Detail: detail, RequestID: requestID(r.Context())}
}
