package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Fetcher downloads media of another server over federation
// (federation.Client has it). Errors wrap media.ErrNotFound,
// media.ErrNotYetUploaded or the federation sentinels.
type Fetcher interface {
	Download(ctx context.Context, origin, mediaID string) (*federation.Media, error)
}

// RemoteOptions configure fetching remote media.
type RemoteOptions struct {
	// Local are the server names served here: their media is never
	// fetched.
	Local []string
	// Timeout bounds one fetch, body included. A fetch runs on when the
	// request that started it goes away while others wait on it, and
	// stops once no request waits any more.
	Timeout time.Duration
	// Counter counts the bytes of cached remote media across the
	// deployment (nil: not counted). Each fetch reserves its bytes before
	// they are stored and keeps the stored size; the reconciler's
	// retention gives them back.
	Counter RemoteBytes
	// Quota caps Counter's total (0: unlimited). A fetch that would pass
	// it fails closed with federation.ErrRemoteTooLarge wrapping
	// catalog.ErrQuotaExceeded (502 M_TOO_LARGE) and stores nothing.
	Quota int64
}

// remote is the state of remote fetching: one fetch per media at a time
// in this process (replicas race on the catalog's create instead).
type remote struct {
	fetch   Fetcher
	opts    RemoteOptions
	local   map[string]bool
	fetches *prometheus.CounterVec

	inflight flight[media.Record]
}

// EnableRemote makes downloads of media of servers not served here fetch
// it over federation: the content is stored sealed exactly like an
// upload (size cap, type policy, hash blocklist, dedup), recorded
// pending with Remote set, scanned, and served only once clean. Call it
// once, before serving.
func (s *Service) EnableRemote(f Fetcher, opts RemoteOptions, reg prometheus.Registerer) {
	r := &remote{fetch: f, opts: opts, local: map[string]bool{},
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_remote_fetches_total", Help: "Fetches of remote media over federation by outcome.",
		}, []string{"outcome"})}
	for _, n := range opts.Local {
		r.local[n] = true
	}
	reg.MustRegister(r.fetches)
	s.remote = r
}

// isRemote reports whether media of origin is fetched over federation.
func (s *Service) isRemote(origin string) bool {
	return s.remote != nil && !s.remote.local[origin]
}

// fetchRemote fetches mxc://origin/id and records it pending; concurrent
// callers share one fetch, which is cancelled when the last of them
// leaves (nothing keeps running for clients that are gone). It returns
// the stored record.
func (s *Service) fetchRemote(ctx context.Context, origin, id string) (media.Record, error) {
	r := s.remote
	return r.inflight.do(ctx, origin+"/"+id, r.opts.Timeout, func(ctx context.Context) (media.Record, error) {
		return s.storeRemote(ctx, origin, id)
	})
}

// storeRemote does one fetch: download, store sealed, record, queue.
func (s *Service) storeRemote(ctx context.Context, origin, id string) (media.Record, error) {
	r := s.remote
	// Another replica (or an earlier flight) may have stored it meanwhile.
	if rec, _, err := s.catalog.Get(ctx, origin, id); err == nil {
		return rec, nil
	}
	m, err := r.fetch.Download(ctx, origin, id)
	if err != nil {
		r.fetches.WithLabelValues(outcome(err)).Inc()
		return media.Record{}, fmt.Errorf("fetching %s: %w", media.MXC(origin, id), err)
	}
	defer m.Body.Close()
	ctype := m.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	q := &reservation{counter: r.opts.Counter, limit: r.opts.Quota}
	// Whatever fails from here gives the reservation back (a no-op once
	// the record holds it).
	defer func() {
		if err := q.release(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("releasing a remote quota reservation failed; the reconciler corrects the count", "media", media.MXC(origin, id), "err", err)
		}
	}()
	if err := q.reserve(ctx, m.Length); err != nil {
		r.fetches.WithLabelValues(outcome(err)).Inc()
		return media.Record{}, fmt.Errorf("fetching %s: %w", media.MXC(origin, id), err)
	}
	c, intent, err := s.store(ctx, Upload{Origin: origin, Filename: m.Filename, DeclaredType: ctype, Body: q.reader(ctx, m.Body), ContentLength: m.Length}, id)
	if err == nil {
		defer s.dropIntent(context.WithoutCancel(ctx), intent)
	}
	if err != nil && q.err != nil {
		err = q.err // the quota's refusal, whatever the store wrapped it in
	}
	if err == nil {
		if err = q.settle(ctx, c.Size); err != nil {
			s.dropRef(context.WithoutCancel(ctx), c)
		}
	}
	if err != nil {
		r.fetches.WithLabelValues(outcome(err)).Inc()
		return media.Record{}, fmt.Errorf("storing %s: %w", media.MXC(origin, id), err)
	}
	now := s.now()
	rec := media.NewPending(origin, id, "", now, c)
	rec.Remote = true
	rec.History[0].Actor = "federation:" + origin
	rev, err := s.catalog.Create(ctx, rec)
	if errors.Is(err, media.ErrExists) {
		s.dropRef(context.WithoutCancel(ctx), c)
		r.fetches.WithLabelValues("raced").Inc()
		got, _, gerr := s.catalog.Get(ctx, origin, id)
		return got, gerr
	}
	if err != nil {
		s.dropRef(context.WithoutCancel(ctx), c)
		r.fetches.WithLabelValues("failed").Inc()
		return media.Record{}, fmt.Errorf("recording %s: %w", rec.MXC(), err)
	}
	q.held = 0 // the record holds the bytes now
	r.fetches.WithLabelValues("stored").Inc()
	s.log.Info("remote media fetched", "media", rec.MXC(), "size", rec.Size, "sha256", rec.SHA256)
	// Queue the scan (or mark clean in development). A refusal after the
	// verdict is the download's answer (from the record), not the fetch's.
	got, _ := s.afterUpload(ctx, rec, rev)
	return got, nil
}

// outcome labels a failed fetch for the metric.
func outcome(err error) string {
	switch {
	case errors.Is(err, federation.ErrPeerNotAllowed):
		return "peer_not_allowed"
	case errors.Is(err, federation.ErrAddressForbidden):
		return "address_forbidden"
	case errors.Is(err, catalog.ErrQuotaExceeded):
		return "quota"
	case errors.Is(err, federation.ErrRemoteTooLarge), errors.Is(err, media.ErrTooLarge):
		return "too_large"
	case errors.Is(err, media.ErrNotFound):
		return "not_found"
	case errors.Is(err, media.ErrTypeForbidden), errors.Is(err, media.ErrHashBlocked):
		return "refused"
	}
	return "failed"
}
