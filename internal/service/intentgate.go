package service

import (
	"context"
	"fmt"
	"io"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// pendingIntent is an upload intent being written while the body already
// streams into the store. The invariant is that no blob exists without an
// intent (or a record) naming it, and a blob exists only once its Put
// completes: a store cannot complete the blob before it has the body's
// last byte (a single S3 PUT needs its whole Content-Length, a multipart
// upload is completed after its last part, the filesystem store renames
// its file after the body's end, and the sealing writer emits a segment's
// authentication tag only after the segment's last byte). So the body
// reader (gate) holds back the read that delivers the last byte, or the
// end of the body, until the intent is durable; when the intent fails,
// that read fails instead and the Put stores nothing.
//
// The issue 18 profile showed the intent's fsynced write before every
// PUT; overlapped, its latency hides behind the body's transfer.
type pendingIntent struct {
	done chan struct{}
	err  error
}

// startIntent writes in in the background.
func (s *Service) startIntent(ctx context.Context, in catalog.Intent) *pendingIntent {
	p := &pendingIntent{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = s.catalog.PutIntent(ctx, in)
	}()
	return p
}

// wait returns the intent write's outcome once it is known.
func (p *pendingIntent) wait() error {
	<-p.done
	return p.err
}

// gate returns r (of size bytes, -1: unknown) holding back its last byte
// until the intent is durable.
func (p *pendingIntent) gate(r io.Reader, size int64) io.Reader {
	return &intentGate{r: r, size: size, p: p}
}

// intentGate passes reads through until one delivers the declared size's
// last byte or the end of the stream; that one waits for the intent, and
// fails with its error when it could not be written. A consumer that knows
// the size stops at that read; one that does not reads until the end.
type intentGate struct {
	r      io.Reader
	size   int64
	n      int64
	p      *pendingIntent
	passed bool
}

func (g *intentGate) Read(b []byte) (int, error) {
	if g.passed {
		return g.r.Read(b)
	}
	n, err := g.r.Read(b)
	g.n += int64(n)
	if err == io.EOF || g.size >= 0 && g.n >= g.size {
		if ierr := g.p.wait(); ierr != nil {
			return 0, fmt.Errorf("recording upload intent: %w", ierr)
		}
		g.passed = true
	}
	return n, err
}
