package service

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// ErrUserLimitExceeded means an upload would take its user over their
// storage quota (MSC4335, 403 M_USER_LIMIT_EXCEEDED); nothing was stored.
// The error is a *UserLimitError.
var ErrUserLimitExceeded = errors.New("user storage quota exceeded")

// UserLimitError carries what MSC4335's answer names besides the errcode.
type UserLimitError struct {
	// InfoURI explains the limit to the user (MSC4335 info_uri).
	InfoURI string
	// IncreaseURI, when set, is where the limit can be raised (the limit
	// is then a soft one).
	IncreaseURI string
	// Detail says which limit was reached.
	Detail string
}

func (e *UserLimitError) Error() string { return ErrUserLimitExceeded.Error() + ": " + e.Detail }
func (e *UserLimitError) Unwrap() error { return ErrUserLimitExceeded }

// Quotas configure per-user storage quotas.
type Quotas struct {
	// Limit returns a user's limits (zero fields: unlimited).
	Limit func(userID string) catalog.Usage
	// InfoURI and IncreaseURI go into the refusal (UserLimitError).
	InfoURI, IncreaseURI string
}

// quota is the usage counting of the service (nil: nothing is counted).
type quota struct {
	usages catalog.Usages
	// batches coalesces limit-less additions per user (usagebatch.go).
	batches *usageBatches
	q       Quotas
}

// add adds delta to userID's usage within limit: through the user's batch
// when nothing is enforced and nothing given back, else in its own call.
func (q *quota) add(ctx context.Context, userID string, delta, limit catalog.Usage) (catalog.Usage, error) {
	if batchable(delta, limit) {
		return q.batches.add(ctx, userID, delta)
	}
	return q.usages.AddUsage(ctx, userID, delta, limit)
}

// EnableQuotas makes the service count every local upload (and import)
// against its uploader in u, and refuse uploads over q's limits before
// anything is stored.
func (s *Service) EnableQuotas(u catalog.Usages, q Quotas) {
	if q.Limit == nil {
		q.Limit = func(string) catalog.Usage { return catalog.Usage{} }
	}
	s.quota = &quota{usages: u, batches: newUsageBatches(u), q: q}
}

// Usage returns userID's usage and limits (MSC4034); without quotas both
// are zero.
func (s *Service) Usage(ctx context.Context, userID string) (used, limit catalog.Usage, err error) {
	if s.quota == nil {
		return catalog.Usage{}, catalog.Usage{}, nil
	}
	used, err = s.quota.usages.GetUsage(ctx, userID)
	return used, s.quota.q.Limit(userID), err
}

// quotaHold is what one upload took from its user's quota before its
// bytes were read: one file and the declared length.
type quotaHold struct {
	s        *Service
	user     string
	reserved catalog.Usage
	// left is how many more bytes the body may have beyond reserved
	// (-1: unlimited).
	left int64
}

// holdQuota takes one file and the declared length from up's uploader
// (enforce: within the limits; an import counts without them). Nothing is
// held for uploads without an uploader (remote media) or without quotas.
func (s *Service) holdQuota(ctx context.Context, up Upload, enforce bool) (*quotaHold, error) {
	if s.quota == nil || up.Uploader == "" {
		return nil, nil
	}
	limit := s.quota.q.Limit(up.Uploader)
	if !enforce {
		limit = catalog.Usage{}
	}
	delta := catalog.Usage{Bytes: max(up.ContentLength, 0), Files: 1}
	cur, err := s.quota.add(ctx, up.Uploader, delta, limit)
	if errors.Is(err, catalog.ErrQuotaExceeded) {
		s.metrics.uploads.WithLabelValues("quota").Inc()
		return nil, s.limitError(cur, delta, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("counting the upload against the quota: %w", err)
	}
	h := &quotaHold{s: s, user: up.Uploader, reserved: delta, left: -1}
	if limit.Bytes > 0 {
		h.left = limit.Bytes - cur.Bytes
	}
	return h, nil
}

func (s *Service) limitError(cur, delta, limit catalog.Usage) error {
	detail := fmt.Sprintf("%d of %d files used", cur.Files, limit.Files)
	if limit.Bytes > 0 && cur.Bytes+delta.Bytes > limit.Bytes {
		detail = fmt.Sprintf("%d of %d bytes used, %d more asked", cur.Bytes, limit.Bytes, delta.Bytes)
	}
	return &UserLimitError{InfoURI: s.quota.q.InfoURI, IncreaseURI: s.quota.q.IncreaseURI, Detail: detail}
}

// pendingHold is the quota hold of one upload: taken before the body is
// read when a limit is enforced, otherwise taken beside the store. The
// issue 18 profile showed one user's 16 concurrent uploads queueing on
// that user's usage row (a fifth of an upload's time on S3 with
// PostgreSQL); where nothing is enforced, when the count is taken does not
// matter, as long as a failed upload gives it back. Such counts of one user
// are also coalesced into one catalog call at a time (usagebatch.go).
type pendingHold struct {
	hold *quotaHold
	err  error
	done chan struct{} // nil: taken at once
}

// startQuotaHold takes up's hold now when a limit is enforced on its
// uploader, otherwise in the background.
func (s *Service) startQuotaHold(ctx context.Context, up Upload) *pendingHold {
	p := &pendingHold{}
	if s.quota == nil || up.Uploader == "" {
		return p
	}
	l := s.quota.q.Limit(up.Uploader)
	if !up.importing && (l.Bytes > 0 || l.Files > 0) {
		p.hold, p.err = s.holdQuota(ctx, up, true)
		return p
	}
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		p.hold, p.err = s.holdQuota(ctx, up, !up.importing)
	}()
	return p
}

// early returns the hold when it was taken at once (its error included);
// a background hold is nil here: it limits nothing.
func (p *pendingHold) early() (*quotaHold, error) {
	if p.done != nil {
		return nil, nil
	}
	return p.hold, p.err
}

// wait returns the hold once it is taken.
func (p *pendingHold) wait() (*quotaHold, error) {
	if p.done != nil {
		<-p.done
	}
	return p.hold, p.err
}

// release waits for the hold and gives it back (the upload keeps nothing).
func (p *pendingHold) release(ctx context.Context) {
	if h, err := p.wait(); err == nil {
		h.release(ctx)
	}
}

// body limits an upload body of unknown (or understated) length to what
// the quota has left.
func (h *quotaHold) body(r io.Reader) io.Reader {
	if h == nil || h.left < 0 {
		return r
	}
	return &userQuotaReader{r: r, left: h.reserved.Bytes + h.left, h: h}
}

// settle replaces the declared length by the stored size (limits were
// checked while streaming).
func (h *quotaHold) settle(ctx context.Context, size int64) {
	if h == nil || size == h.reserved.Bytes {
		return
	}
	h.add(ctx, catalog.Usage{Bytes: size - h.reserved.Bytes})
	h.reserved.Bytes = size
}

// release gives back what the upload holds (it keeps nothing).
func (h *quotaHold) release(ctx context.Context) {
	if h == nil {
		return
	}
	h.add(ctx, catalog.Usage{Bytes: -h.reserved.Bytes, Files: -h.reserved.Files})
	h.reserved = catalog.Usage{}
}

func (h *quotaHold) add(ctx context.Context, d catalog.Usage) {
	if _, err := h.s.quota.add(context.WithoutCancel(ctx), h.user, d, catalog.Usage{}); err != nil {
		h.s.log.Error("correcting a user's storage usage failed", "user", h.user, "delta_bytes", d.Bytes, "delta_files", d.Files, "err", err)
	}
}

// ReleaseUsage gives back the usage of a record whose content is gone
// (deleted by an officer or erased): size bytes and one file.
func (s *Service) ReleaseUsage(ctx context.Context, userID string, size int64) {
	if s.quota == nil || userID == "" {
		return
	}
	(&quotaHold{s: s, user: userID}).add(ctx, catalog.Usage{Bytes: -size, Files: -1})
}

// userQuotaReader fails once more bytes than the quota allows have passed.
type userQuotaReader struct {
	r    io.Reader
	left int64
	n    int64
	h    *quotaHold
}

func (q *userQuotaReader) Read(p []byte) (int, error) {
	n, err := q.r.Read(p)
	q.n += int64(n)
	if q.n > q.left {
		q.h.s.metrics.uploads.WithLabelValues("quota").Inc()
		return 0, &UserLimitError{InfoURI: q.h.s.quota.q.InfoURI, IncreaseURI: q.h.s.quota.q.IncreaseURI,
			Detail: fmt.Sprintf("the body passed the %d bytes left of the quota", q.left)}
	}
	return n, err
}
