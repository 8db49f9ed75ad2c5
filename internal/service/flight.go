package service

import (
	"context"
	"sync"
	"time"
)

// flight shares one piece of work (a federation fetch, a thumbnail
// generation) among the requests that ask for the same key at once, like
// singleflight, but the work runs only while someone waits for it: its
// context ends when the last waiting request has gone (cancelled, timed
// out, client disconnected), or after the timeout, so nothing runs on
// detached for clients that are gone. The zero value is ready to use.
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int // under flight.mu
	val     T
	err     error
}

// do runs fn under key, or joins the run already under way, and returns
// its result; it returns ctx's error as soon as ctx ends. fn's context
// keeps ctx's values but none of its cancellation: it ends when every
// request waiting for fn has gone, or after timeout (0: none).
func (f *flight[T]) do(ctx context.Context, key string, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]*flightCall[T]{}
	}
	c := f.calls[key]
	if c == nil {
		gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if timeout > 0 {
			gctx, cancel = context.WithTimeout(gctx, timeout)
		}
		c = &flightCall[T]{done: make(chan struct{}), cancel: cancel}
		f.calls[key] = c
		go func() {
			c.val, c.err = fn(gctx)
			cancel()
			f.mu.Lock()
			if f.calls[key] == c {
				delete(f.calls, key)
			}
			f.mu.Unlock()
			close(c.done)
		}()
	}
	c.waiters++
	f.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		f.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			c.cancel()
			if f.calls[key] == c {
				delete(f.calls, key) // the next request starts afresh
			}
		}
		f.mu.Unlock()
		var zero T
		return zero, ctx.Err()
	}
}
