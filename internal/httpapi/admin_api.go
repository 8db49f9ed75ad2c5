package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/review"
)

// AdminAPIPrefix is where the officers' JSON API lives on the admin
// listener; every route under it needs an officer's bearer token.
const AdminAPIPrefix = "/officers/api/v1"

// adminAPIRoutes lists the API; the admin OpenAPI test walks it. auth
// marks routes for admins only.
func (a *Admin) adminAPIRoutes() []route {
	m := "/media/{serverName}/{mediaId}"
	return []route{
		{"admin_whoami", "/whoami", []string{"GET"}, false, a.apiWhoami},
		{"admin_list", "/media", []string{"GET"}, false, a.apiList},
		{"admin_details", m, []string{"GET"}, false, a.apiDetails},
		{"admin_release", m + "/release", []string{"POST"}, false, a.apiAction("release")},
		{"admin_delete", m + "/delete", []string{"POST"}, false, a.apiAction("delete")},
		{"admin_rescan", m + "/rescan", []string{"POST"}, false, a.apiAction("rescan")},
		{"admin_quarantine", m + "/quarantine", []string{"POST"}, false, a.apiAction("quarantine")},
		{"admin_sample", m + "/sample", []string{"POST"}, false, a.apiSample},
		{"admin_user_media", "/users/{userId}/media", []string{"GET"}, false, a.apiUserMedia},
		{"admin_user_quarantine", "/users/{userId}/quarantine", []string{"POST"}, false, a.apiUserQuarantine},
		{"admin_user_erase", "/users/{userId}/erase", []string{"POST"}, true, a.apiUserErase},
		{"admin_usage", "/usage", []string{"GET"}, false, a.apiUsage},
		{"admin_hash_quarantine", "/hashes/{sha256}/quarantine", []string{"POST"}, false, a.apiHashQuarantine},
		{"admin_audit", "/audit", []string{"GET"}, false, a.apiAudit},
	}
}

// apiWrap authenticates the officer by bearer token and writes errors in
// the Matrix shape. adminOnly routes refuse officers who are not admins.
func (a *Admin) apiWrap(rt route) http.Handler {
	return a.obs.observe(rt.name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() error {
			if r.URL.Query().Has("access_token") {
				return errQueryToken
			}
			tok, err := auth.BearerToken(r.Header.Get("Authorization"))
			if err != nil {
				return err
			}
			user, err := a.authenticate(r.Context(), r, r.URL.Query().Get("server"), tok)
			if err != nil {
				return err
			}
			if rt.auth && a.role(user) != roleAdmin {
				return ErrNotAdmin
			}
			return rt.h(w, r.WithContext(context.WithValue(r.Context(), keyUser, user)))
		}()
		if err != nil {
			writeError(w, r, a.deps.Log, err)
		}
	}))
}

func (a *Admin) apiWhoami(w http.ResponseWriter, r *http.Request) error {
	user := userID(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"user_id": user, "role": a.role(user)})
	return nil
}

// mediaVars returns the unescaped serverName and mediaId of the route.
func mediaVars(r *http.Request) (string, string, error) {
	v := mux.Vars(r)
	server, err := url.PathUnescape(v["serverName"])
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", media.ErrInvalidServerName, err)
	}
	return server, v["mediaId"], nil
}

func pathVar(r *http.Request, name string) (string, error) {
	v, err := url.PathUnescape(mux.Vars(r)[name])
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrBadRequest, name, err)
	}
	return v, nil
}

// actionBody is the JSON body of an action.
type actionBody struct {
	Reason        string `json:"reason"`
	LiftHashBlock bool   `json:"lift_hash_block"`
}

func decodeAction(r *http.Request) (actionBody, error) {
	var b actionBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf("%w: body: %v", ErrBadRequest, err)
	}
	return b, nil
}

func (a *Admin) request(r *http.Request, reason string) review.Request {
	return review.Request{Actor: userID(r.Context()), Reason: strings.TrimSpace(reason), RequestID: requestID(r.Context())}
}

// doAction runs one media action for the API and the page.
func (a *Admin) doAction(ctx context.Context, action string, q review.Request, origin, id string, lift bool) (review.Result, error) {
	switch action {
	case "release":
		return a.deps.Review.Release(ctx, q, origin, id, lift)
	case "delete":
		return a.deps.Review.Delete(ctx, q, origin, id)
	case "rescan":
		return a.deps.Review.Rescan(ctx, q, origin, id)
	case "quarantine":
		return a.deps.Review.Quarantine(ctx, q, origin, id)
	}
	return review.Result{}, ErrUnrecognized
}

func (a *Admin) apiAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		origin, id, err := mediaVars(r)
		if err != nil {
			return err
		}
		b, err := decodeAction(r)
		if err != nil {
			return err
		}
		res, err := a.doAction(r.Context(), action, a.request(r, b.Reason), origin, id, b.LiftHashBlock)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
}

func (a *Admin) apiDetails(w http.ResponseWriter, r *http.Request) error {
	origin, id, err := mediaVars(r)
	if err != nil {
		return err
	}
	d, err := a.deps.Review.Get(r.Context(), origin, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// listFilter reads the list filter from query parameters (API and page).
func listFilter(q url.Values) (review.Filter, error) {
	f := review.Filter{Uploader: strings.TrimSpace(q.Get("uploader")), Origin: strings.TrimSpace(q.Get("server_name")),
		Signature: strings.TrimSpace(q.Get("signature")), SHA256: strings.ToLower(strings.TrimSpace(q.Get("sha256"))), Cursor: q.Get("cursor")}
	for _, s := range q["state"] {
		if s != "" {
			f.States = append(f.States, media.State(s))
		}
	}
	var err error
	if f.Since, err = parseTime(q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		return f, err
	}
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		return f, err
	}
	return f, nil
}

// parseTime accepts RFC 3339, or a date (YYYY-MM-DD) or the page's
// datetime-local value (YYYY-MM-DDTHH:MM), both taken as UTC.
func parseTime(s string) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a time (RFC 3339 or YYYY-MM-DD)", ErrBadRequest, s)
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: limit %q", ErrBadRequest, s)
	}
	return n, nil
}

func (a *Admin) apiList(w http.ResponseWriter, r *http.Request) error {
	f, err := listFilter(r.URL.Query())
	if err != nil {
		return err
	}
	p, err := a.deps.Review.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (a *Admin) apiSample(w http.ResponseWriter, r *http.Request) error {
	origin, id, err := mediaVars(r)
	if err != nil {
		return err
	}
	b, err := decodeAction(r)
	if err != nil {
		return err
	}
	return a.sendSample(w, r, a.request(r, b.Reason), origin, id)
}

// sendSample streams a sample, always as an attachment of an opaque type
// so that no browser renders it.
func (a *Admin) sendSample(w http.ResponseWriter, r *http.Request, q review.Request, origin, id string) error {
	rec, rc, err := a.deps.Review.Sample(r.Context(), q, origin, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "sample-" + rec.ID + ".bin"}))
	h.Set("Content-Length", strconv.FormatInt(rec.Size, 10))
	h.Set("X-Sample-SHA256", rec.SHA256)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		a.deps.Log.Warn("sample transfer interrupted", "request_id", requestID(r.Context()), "media", rec.MXC(), "err", err)
	}
	return nil
}

func (a *Admin) apiUserMedia(w http.ResponseWriter, r *http.Request) error {
	user, err := pathVar(r, "userId")
	if err != nil {
		return err
	}
	items, usage, err := a.deps.Review.ByUploader(r.Context(), user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "usage": usage,
		"items_omitted": usage.Records() - len(items)})
	return nil
}

func (a *Admin) apiUserQuarantine(w http.ResponseWriter, r *http.Request) error {
	return a.apiBulk(w, r, "userId", a.deps.Review.QuarantineUploader)
}

func (a *Admin) apiUserErase(w http.ResponseWriter, r *http.Request) error {
	return a.apiBulk(w, r, "userId", a.deps.Review.EraseUploader)
}

func (a *Admin) apiHashQuarantine(w http.ResponseWriter, r *http.Request) error {
	return a.apiBulk(w, r, "sha256", a.deps.Review.QuarantineHash)
}

func (a *Admin) apiBulk(w http.ResponseWriter, r *http.Request, name string, fn func(context.Context, review.Request, string) (review.Bulk, error)) error {
	target, err := pathVar(r, name)
	if err != nil {
		return err
	}
	b, err := decodeAction(r)
	if err != nil {
		return err
	}
	res, err := fn(r.Context(), a.request(r, b.Reason), target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *Admin) apiUsage(w http.ResponseWriter, r *http.Request) error {
	n, err := parseLimit(r.URL.Query().Get("limit"))
	if err != nil {
		return err
	}
	u, err := a.deps.Review.TopUsage(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": u})
	return nil
}

// auditFilter reads the audit filter from query parameters.
func auditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Target: strings.TrimSpace(q.Get("target")), Outcome: strings.TrimSpace(q.Get("outcome"))}
	var err error
	if f.Since, err = parseTime(q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		return f, err
	}
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		return f, err
	}
	if s := q.Get("before"); s != "" {
		if f.Before, err = strconv.ParseUint(s, 10, 64); err != nil {
			return f, fmt.Errorf("%w: before %q", ErrBadRequest, s)
		}
	}
	return f, nil
}

func (a *Admin) apiAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	p, err := a.deps.Audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}
