package app

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/httpapi"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/review"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/session"
)

// hostMap maps each configured HTTP host (lower case) to its server name.
func hostMap(cfg config.Config) map[string]string {
	hosts := map[string]string{}
	for _, sn := range cfg.Servers {
		for _, h := range sn.HostNames() {
			hosts[strings.ToLower(h)] = sn.Name
		}
	}
	return hosts
}

// buildOfficers wires the security officers' review onto the admin
// listener: the audit stream, the session bucket (with its expiry
// sweeper as a runner), the review actions and the page and API.
func (s *Server) buildOfficers(ctx context.Context) error {
	cfg := s.cfg
	o := cfg.Officers.Resolved(cfg)
	officers, admins := slices.Clone(o.Users), slices.Clone(o.Admins)
	var tokenHint string
	if cfg.Embedded && cfg.Auth.Mode == "static" {
		dev := DevUser(cfg)
		admins = append(admins, dev)
		tokenHint = filepath.Join(cfg.DataDir, "dev-token")
		s.log.Warn("DEVELOPMENT: the embedded default's dev user is a security officer and administrator; "+
			"anyone with the dev token can release, delete and download quarantined media",
			"user", dev, "officers_page", "http://"+cfg.AdminListen+"/officers/", "token_file", tokenHint)
	}
	if len(officers)+len(admins) == 0 {
		s.log.Warn("no security officers configured (officers.users): the officers' page admits nobody")
	}
	aud, err := audit.Open(ctx, s.nats.JS, audit.Options{Replicas: cfg.NATS.Replicas})
	if err != nil {
		return err
	}
	hs := &session.Homeserver{Client: &http.Client{Timeout: cfg.Auth.Timeout.D()}}
	sessions, err := session.New(ctx, s.nats.JS, session.Options{TTL: o.SessionTTL.D(), Idle: o.IdleTimeout.D(),
		Replicas: cfg.NATS.Replicas}, hs, s.log)
	if err != nil {
		return err
	}
	s.runners = append(s.runners, sessions.Run)
	rv, err := review.New(s.catalog, s.blobs, s.jobs, aud, review.Options{
		MediaPrefix: service.MediaPrefix, QuarantinePrefix: service.QuarantinePrefix,
		OnDeleted: func(ctx context.Context, rec media.Record) {
			if !rec.Remote {
				s.svc.ReleaseUsage(ctx, rec.Uploader, rec.Size)
			}
		}}, s.log, s.registry)
	if err != nil {
		return err
	}
	deps := httpapi.AdminDeps{Review: rv, Audit: aud, Sessions: sessions, Login: hs, Daily: s.daily,
		Auth: s.authn, Log: s.log, Registerer: s.registry}
	if q, ok := s.jobs.(*queue.Queue); ok {
		deps.Backlog = q // none with scan.dev_mark_clean
	}
	if cfg.Scan.RescanRate > 0 {
		deps.Rescan = s.catalog
	}
	admin, err := httpapi.NewAdmin(deps, httpapi.AdminOptions{
		Officers: officers, Admins: admins, Homeserver: o.Homeserver, LoginMethods: o.LoginMethods, Hosts: hostMap(cfg),
		CookieSecure: *o.CookieSecure, PublicURL: o.PublicURL, TokenHint: tokenHint})
	if err != nil {
		return err
	}
	if !*o.CookieSecure {
		s.log.Warn("officers' session cookie without the Secure flag (officers.cookie_secure: false): only for plain-HTTP localhost")
	}
	s.officers = admin
	return nil
}
