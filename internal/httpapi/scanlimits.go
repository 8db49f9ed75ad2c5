package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// errScansBusy: every slot for content-scanner checks is taken (503 with
// Retry-After; MCS_MEDIA_REQUEST_FAILED on the scanner routes).
var errScansBusy = fmt.Errorf("%w: too many scans at once", ErrUnavailable)

// scanGate bounds the content scanner's checks: a token bucket per user
// for every scan route, and a global number of checks in flight (each may
// decrypt and scan a whole file inside the request).
type scanGate struct {
	users *limiters
	slots chan struct{}
}

func newScanGate(perSecond float64, burst, concurrent int) *scanGate {
	if perSecond <= 0 || burst < 1 {
		perSecond, burst = 2, 20
	}
	if concurrent < 1 {
		concurrent = 8
	}
	return &scanGate{users: newLimiters(perSecond, burst), slots: make(chan struct{}, concurrent)}
}

// allow takes a token of the request's user (or anonymous client address).
func (g *scanGate) allow(ctx context.Context) error { return g.users.allow(rateKey(ctx)) }

// start takes a token of the user and a slot; the caller calls release
// when the check has ended. Without a free slot it fails at once.
func (g *scanGate) start(ctx context.Context) (release func(), err error) {
	if err := g.allow(ctx); err != nil {
		return nil, err
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
		return nil, errScansBusy
	}
}

// bodyDeadline gives a request body that is not an upload a deadline: it
// must arrive completely within d of the handler's first read, else the
// read fails with errTooSlow (408). The connection's read deadline is
// cleared again once the body has been read, so a long wait for a verdict
// afterwards is not cut.
func bodyDeadline(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: d}
}

type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	d    time.Duration
	set  bool
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.set {
		b.set = true
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d)) // unsupported writers keep no deadline
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF) && !b.done:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline stays: the server's discard of the unread rest
		// fails at once, the answer goes out and the connection closes.
		err = fmt.Errorf("%w: the body did not arrive within %s", errTooSlow, b.d)
	}
	return n, err
}
