package httpapi

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mediarepo/mediarepo/internal/media"
)

// maxBuckets bounds the buckets a limiters keeps. Past it, full buckets
// (the default anyway) are forgotten first; if that is not enough, all
// are, which costs at most one burst per key and keeps memory bounded
// whatever the number of users or addresses.
const maxBuckets = 100000

// limiters holds one token bucket per key (user ID or client address).
type limiters struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
}

func newLimiters(perSecond float64, burst int) *limiters {
	return &limiters{rate: rate.Limit(perSecond), burst: burst, keys: map[string]*rate.Limiter{}}
}

// bucket returns key's bucket, creating it.
func (l *limiters) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= maxBuckets {
			for k, x := range l.keys {
				if x.Tokens() >= float64(l.burst) {
					delete(l.keys, k)
				}
			}
			if len(l.keys) >= maxBuckets {
				clear(l.keys)
			}
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.keys[key] = lim
	}
	return lim
}

// allow takes a token for key or returns ErrLimitExceeded with the wait.
func (l *limiters) allow(key string) error {
	res := l.bucket(key).Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return limitError(d)
	}
	return nil
}

// check returns the error of allow when key has no token left, without
// taking one.
func (l *limiters) check(key string) error {
	lim := l.bucket(key)
	if lim.Tokens() >= 1 {
		return nil
	}
	return limitError(time.Duration((1 - lim.Tokens()) / float64(l.rate) * float64(time.Second)))
}

func limitError(wait time.Duration) error {
	return retryAfterError{err: fmt.Errorf("%w: too many requests", media.ErrLimitExceeded), after: int(wait/time.Second) + 1}
}

// AddrLimiter is a token bucket per client address (ClientAddrs), for
// routes that answer without a token and for failed authentications. It
// holds a bounded number of buckets. It is safe for concurrent use.
type AddrLimiter struct {
	addrs ClientAddrs
	lim   *limiters
}

// NewAddrLimiter returns a limiter of perSecond requests per client
// address with bursts of burst.
func NewAddrLimiter(addrs ClientAddrs, perSecond float64, burst int) *AddrLimiter {
	return &AddrLimiter{addrs: addrs, lim: newLimiters(perSecond, burst)}
}

// Allow takes a token for r's client address. Over the limit it returns an
// error wrapping media.ErrLimitExceeded that carries the Retry-After (429
// M_LIMIT_EXCEEDED, or MCS_... on the content-scanner routes).
func (l *AddrLimiter) Allow(r *http.Request) error { return l.lim.allow(l.addrs.Of(r)) }

// Exhausted returns the error of Allow when r's client address has no
// token left, without taking one: for limits that only count failures
// (take a token with Allow after each failure).
func (l *AddrLimiter) Exhausted(r *http.Request) error { return l.lim.check(l.addrs.Of(r)) }
