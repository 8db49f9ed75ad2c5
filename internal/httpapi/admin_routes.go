package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/mediarepo/mediarepo/internal/httpapi/web"
	"github.com/mediarepo/mediarepo/internal/session"
)

// OfficersPrefix is where the officers' pages live; every page under it
// needs a logged-in officer (others are sent to /login or refused).
const OfficersPrefix = "/officers"

// pageFunc is a page handler with its officer's session.
type pageFunc func(w http.ResponseWriter, r *http.Request, pc *pageCtx) error

// pageCtx is what a page knows about its officer.
type pageCtx struct {
	sid  string
	sess session.Session
	user string
	role string
	lang string
}

// pageRoute is one page of the officers' web interface.
type pageRoute struct {
	name    string
	path    string
	methods []string
	h       pageFunc
}

func (a *Admin) pageRoutes() []pageRoute {
	m := "/media/{serverName}/{mediaId}"
	return []pageRoute{
		{"page_list", "/", []string{"GET"}, a.pageList},
		{"page_details", m, []string{"GET"}, a.pageDetails},
		{"page_action", m + "/{action:release|delete|rescan|quarantine}", []string{"POST"}, a.pageAction},
		{"page_sample", m + "/sample", []string{"POST"}, a.pageSample},
		{"page_user", "/users", []string{"GET"}, a.pageUser},
		{"page_user_action", "/users/{action:quarantine|erase}", []string{"POST"}, a.pageUserAction},
		{"page_hash_quarantine", "/hashes/quarantine", []string{"POST"}, a.pageHashQuarantine},
		{"page_audit", "/audit", []string{"GET"}, a.pageAudit},
		{"page_lang", "/lang", []string{"POST"}, a.pageLang},
	}
}

func (a *Admin) routes() *mux.Router {
	r := mux.NewRouter()
	r.UseEncodedPath()
	api := r.PathPrefix(AdminAPIPrefix).Subrouter()
	for _, rt := range a.adminAPIRoutes() {
		api.Handle(rt.path, a.apiWrap(rt)).Methods(rt.methods...)
	}
	api.NotFoundHandler = a.apiWrap(route{name: "admin_unrecognized", h: func(http.ResponseWriter, *http.Request) error { return ErrUnrecognized }})
	api.MethodNotAllowedHandler = a.apiWrap(route{name: "admin_unrecognized", h: func(http.ResponseWriter, *http.Request) error { return errMethod }})

	for _, p := range a.pageRoutes() {
		r.Handle(OfficersPrefix+p.path, a.page(p)).Methods(p.methods...)
	}
	r.Handle(OfficersPrefix, http.RedirectHandler(OfficersPrefix+"/", http.StatusFound))
	r.Handle("/", http.RedirectHandler(OfficersPrefix+"/", http.StatusFound))
	r.Handle("/login", a.obs.observe("login", a.plain(a.loginPage))).Methods("GET")
	r.Handle("/login", a.obs.observe("login", a.plain(a.loginSubmit))).Methods("POST")
	r.Handle("/login/sso", a.obs.observe("login_sso", a.plain(a.ssoStart))).Methods("GET")
	r.Handle("/login/sso/callback", a.obs.observe("login_sso", a.plain(a.ssoCallback))).Methods("GET")
	r.Handle("/logout", a.obs.observe("logout", a.plain(a.logout))).Methods("POST")
	r.Handle("/assets/{file}", http.StripPrefix("/assets/", http.FileServerFS(web.Assets()))).Methods("GET")
	notFound := a.obs.observe("unrecognized", a.plain(func(w http.ResponseWriter, r *http.Request) error {
		if strings.HasPrefix(r.URL.Path, OfficersPrefix+"/") {
			// Nothing under the prefix answers without a session.
			if _, err := a.session(r); err != nil {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return nil
			}
		}
		return ErrUnrecognized
	}))
	r.NotFoundHandler = notFound
	r.MethodNotAllowedHandler = notFound
	return r
}

// plain runs a handler that needs no session, rendering errors as a page.
func (a *Admin) plain(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.renderError(w, r, nil, err)
		}
	})
}

// sessionCookie is the name of the session cookie: with Secure, the
// __Host- prefix binds it to this host and path /.
func (a *Admin) sessionCookie() string {
	if a.opts.CookieSecure {
		return "__Host-mediarepo_officer"
	}
	return "mediarepo_officer"
}

func (a *Admin) setCookie(w http.ResponseWriter, name, value string, maxAge int, strict bool) {
	same := http.SameSiteStrictMode
	if !strict {
		same = http.SameSiteLaxMode
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.opts.CookieSecure, SameSite: same})
}

// session returns the request's live officer session.
func (a *Admin) session(r *http.Request) (*pageCtx, error) {
	c, err := r.Cookie(a.sessionCookie())
	if err != nil || c.Value == "" {
		return nil, session.ErrNotFound
	}
	s, err := a.deps.Sessions.Get(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	pc := &pageCtx{sid: c.Value, sess: s, user: s.UserID, role: a.role(s.UserID), lang: s.Lang}
	if pc.lang == "" {
		pc.lang = pickLang(r)
	}
	return pc, nil
}

// page wraps a page: a live session of a (still) configured officer, and
// the CSRF token on every POST.
func (a *Admin) page(p pageRoute) http.Handler {
	return a.obs.observe(p.name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc, err := a.session(r)
		if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrExpired) {
			a.setCookie(w, a.sessionCookie(), "", -1, true)
			target := "/login"
			if errors.Is(err, session.ErrExpired) {
				target += "?expired=1"
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if err == nil && pc.role == "" {
			err = ErrNotOfficer
		}
		if err == nil && r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if perr := r.ParseForm(); perr != nil || !pc.sess.CheckCSRF(r.PostForm.Get("csrf")) {
				err = ErrCSRF
			}
		}
		if err == nil {
			ctx := context.WithValue(r.Context(), keyUser, pc.user)
			err = p.h(w, r.WithContext(ctx), pc)
		}
		if err != nil {
			a.renderError(w, r, pc, err)
		}
	}))
}
