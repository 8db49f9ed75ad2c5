package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// leaseContext is the context of work done under a lease: it ends when the
// lease's local expiry passes, even if no renewal failed yet. That matters
// after a process was paused (SIGSTOP, a long GC, a frozen VM) past the
// lease's TTL: another replica may hold the lease by then, and the paused
// one must stop before its next write, not after its next renewal.
//
// Err checks the clock on every call, so a write guarded by ctx.Err() is
// refused from the first instant past the expiry; Done is closed by a
// timer that is moved on every renewal. Both the catalog and the queue
// refuse work on an ended context, which makes every write of a pass
// fenced by the lease.
type leaseContext struct {
	context.Context
	mu      sync.Mutex
	expires time.Time
	timer   *time.Timer
	done    chan struct{}
	err     error
}

// leaseMargin is kept off a lease's expiry against clock steps and the
// time a write takes to reach the catalog.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 10 }

// newLeaseContext returns a context that ends with parent or at expires.
func newLeaseContext(parent context.Context, expires time.Time) *leaseContext {
	c := &leaseContext{Context: parent, expires: expires, done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Until(expires), c.expire)
	go func() {
		select {
		case <-parent.Done():
			c.end(parent.Err())
		case <-c.done:
		}
	}()
	return c
}

// extend moves the expiry after a renewal; it cannot revive an ended context.
func (c *leaseContext) extend(expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.expires = expires
	c.timer.Reset(time.Until(expires))
}

// expire ends the context if the expiry has really passed (a timer that
// fired just before a renewal moved it is ignored).
func (c *leaseContext) expire() {
	c.mu.Lock()
	left := time.Until(c.expires)
	c.mu.Unlock()
	if left > 0 {
		c.timer.Reset(left)
		return
	}
	c.end(errLeaseExpired)
}

// errLeaseExpired ends a leaseContext at its expiry. It wraps
// context.DeadlineExceeded (the context contract) and catalog.ErrLeaseLost.
var errLeaseExpired = fmt.Errorf("%w: %w: its local expiry passed before a renewal", context.DeadlineExceeded, catalog.ErrLeaseLost)

// lost ends the context because a renewal failed.
func (c *leaseContext) lost(err error) {
	c.end(fmt.Errorf("%w: %w", context.Canceled, err))
}

// stop ends the context when the work under the lease is over.
func (c *leaseContext) stop() { c.end(context.Canceled) }

// end ends the context with err, once.
func (c *leaseContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		c.timer.Stop()
		close(c.done)
	}
}

// Done is closed when the parent ends or the lease expires.
func (c *leaseContext) Done() <-chan struct{} { return c.done }

// Err reports why the context ended; it consults the clock, so it is
// non-nil from the first instant past the expiry.
func (c *leaseContext) Err() error {
	c.mu.Lock()
	err, expired := c.err, !time.Now().Before(c.expires)
	c.mu.Unlock()
	if err == nil && expired {
		c.end(errLeaseExpired)
		return c.Err()
	}
	return err
}

// Deadline is the lease's expiry.
func (c *leaseContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.Context.Deadline(); ok && d.Before(c.expires) {
		return d, true
	}
	return c.expires, true
}
