package service

import (
	"fmt"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/mediarepo/mediarepo/internal/media"
)

// minWriteCost is what one write in flight is charged at least: the
// sealing and copy buffers of a stream that the store does not buffer.
const minWriteCost = 256 << 10

// Buffering says how much memory the blob store holds per upload: the S3
// store buffers parts, the filesystem store nothing beyond the copy.
type Buffering struct {
	// SinglePut is the largest known size sent in one streamed request
	// without buffering (the S3 part size; 0: every size).
	SinglePut int64
	// Known is what a larger upload of known size holds (part size ×
	// concurrency); Unknown what one of unknown size holds (one part, the
	// store's streaming path).
	Known, Unknown int64
}

// admission bounds the memory of writes in flight (uploads and remote
// fetches together) by a budget, and each user's uploads in flight.
// Refusals are immediate and wrap media.ErrLimitExceeded (429 with
// Retry-After): a client retries, nothing waits holding a connection.
type admission struct {
	budget  *semaphore.Weighted // nil: unbounded
	buf     Buffering
	perUser int // 0: unbounded

	mu    sync.Mutex
	users map[string]int
}

func newAdmission(budget int64, buf Buffering, perUser int) *admission {
	a := &admission{buf: buf, perUser: perUser, users: map[string]int{}}
	if budget > 0 {
		a.budget = semaphore.NewWeighted(budget)
	}
	return a
}

// cost is what a write of size bytes (-1: unknown) may buffer.
func (a *admission) cost(size int64) int64 {
	switch {
	case size < 0:
		return max(minWriteCost, a.buf.Unknown)
	case a.buf.SinglePut == 0 || size <= a.buf.SinglePut:
		return minWriteCost
	default:
		return max(minWriteCost, a.buf.Known)
	}
}

// admit takes room for a write of size bytes by user ("" for remote
// fetches, which count against the budget only). The caller calls
// release when the write has ended.
func (a *admission) admit(user string, size int64) (release func(), err error) {
	if user != "" && a.perUser > 0 {
		a.mu.Lock()
		if a.users[user] >= a.perUser {
			a.mu.Unlock()
			return nil, fmt.Errorf("%w: %d uploads of this user are in flight", media.ErrLimitExceeded, a.perUser)
		}
		a.users[user]++
		a.mu.Unlock()
	}
	leaveUser := func() {
		if user != "" && a.perUser > 0 {
			a.mu.Lock()
			if a.users[user]--; a.users[user] <= 0 {
				delete(a.users, user)
			}
			a.mu.Unlock()
		}
	}
	cost := a.cost(size)
	if a.budget != nil && !a.budget.TryAcquire(cost) {
		leaveUser()
		return nil, fmt.Errorf("%w: the uploads in flight use the memory budget; retry shortly", media.ErrLimitExceeded)
	}
	return func() {
		if a.budget != nil {
			a.budget.Release(cost)
		}
		leaveUser()
	}, nil
}
