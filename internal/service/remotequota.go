package service

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/federation"
)

// RemoteBytes is the deployment-wide count of cached remote media bytes
// (catalog.Catalog has it): AddRemoteBytes refuses a positive delta that would
// pass limit (limit > 0) with catalog.ErrQuotaExceeded.
type RemoteBytes interface {
	AddRemoteBytes(ctx context.Context, delta, limit int64) (int64, error)
}

// quotaStep is how many bytes a streaming fetch reserves at a time when
// the remote server did not declare the length.
const quotaStep = 1 << 20

// reservation holds bytes of the remote quota for one fetch. The remote
// answer's length is reserved up front when declared; otherwise (our own
// answers and Synapse's carry none) the body reserves as it streams, a
// step at a time, and the last step down to the exact byte when a whole
// step does not fit. Over the quota, the read fails and the store keeps
// nothing. settle keeps the stored size; release gives everything back.
type reservation struct {
	counter RemoteBytes // nil: no accounting
	limit   int64
	held    int64
	err     error // the quota refusal or counter failure, if any
}

// reserve takes n more bytes.
func (q *reservation) reserve(ctx context.Context, n int64) error {
	if q.counter == nil || n <= 0 {
		return nil
	}
	if _, err := q.counter.AddRemoteBytes(ctx, n, q.limit); err != nil {
		if errors.Is(err, catalog.ErrQuotaExceeded) {
			// 502 M_TOO_LARGE: the spec's answer for remote content too
			// large for this server to serve.
			err = fmt.Errorf("%w: remote media quota: %w", federation.ErrRemoteTooLarge, err)
		}
		q.err = err
		return err
	}
	q.held += n
	return nil
}

// settle keeps exactly size bytes reserved (the stored content's size).
func (q *reservation) settle(ctx context.Context, size int64) error {
	if q.counter == nil || size == q.held {
		return nil
	}
	if size > q.held {
		return q.reserve(ctx, size-q.held)
	}
	_, err := q.counter.AddRemoteBytes(ctx, size-q.held, 0)
	if err == nil {
		q.held = size
	}
	return err
}

// release gives every reserved byte back (a fetch that stored nothing or
// whose record lost a race).
func (q *reservation) release(ctx context.Context) error {
	if q.counter == nil || q.held == 0 {
		return nil
	}
	_, err := q.counter.AddRemoteBytes(ctx, -q.held, 0)
	if err == nil {
		q.held = 0
	}
	return err
}

// reader wraps the remote body so that every byte read is reserved first.
func (q *reservation) reader(ctx context.Context, r io.Reader) io.Reader {
	if q.counter == nil {
		return r
	}
	return &quotaReader{ctx: ctx, q: q, r: r}
}

type quotaReader struct {
	ctx  context.Context
	q    *reservation
	r    io.Reader
	read int64
}

func (r *quotaReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.read += int64(n)
	if need := r.read - r.q.held; need > 0 {
		if rerr := r.q.reserve(r.ctx, max(need, quotaStep)); rerr != nil {
			if !errors.Is(rerr, catalog.ErrQuotaExceeded) || r.q.reserve(r.ctx, need) != nil {
				return 0, r.q.err
			}
			r.q.err = nil // the exact amount fit
		}
	}
	return n, err
}
