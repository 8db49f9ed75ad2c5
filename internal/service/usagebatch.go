package service

import (
	"context"
	"sync"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// usageBatches coalesces the limit-less usage additions of one user into
// one catalog call at a time (group commit). The issue 18 profile showed
// one user's 16 concurrent uploads queueing on that user's usage counter:
// with PostgreSQL each UPDATE holds the row lock through its commit's
// fsync, with the KV catalog each compare-and-set races the others and
// retries. Here at most one AddUsage per user is in flight; additions that
// arrive meanwhile are summed into the next batch, which starts when the
// running one ends. Every member of a batch waits for its call and gets
// its outcome (the new total, or the error), so the count is as exact and
// as durable before an upload answers as one call per upload.
//
// Only deltas without negative parts and without a limit are batched:
// their sum is exactly their sequence (no limit to refuse one member, no
// clamping at zero), so one failing member cannot fail the others for a
// reason of its own. An enforced limit and a give-back keep their own
// catalog call.
type usageBatches struct {
	usages catalog.Usages
	mu     sync.Mutex
	users  map[string]*userBatches
	// calls counts the catalog calls made (for the tests).
	calls int64
}

// userBatches is one user's running batch (running) and the one that
// collects additions meanwhile (next, nil when none arrived).
type userBatches struct {
	running bool
	next    *usageBatch
}

// usageBatch is one catalog call's sum of additions and its outcome, set
// before done is closed.
type usageBatch struct {
	delta   catalog.Usage
	members int
	done    chan struct{}
	total   catalog.Usage
	err     error
}

// usageBatchTimeout bounds one batch's catalog call. The call runs
// without its members' cancellation, and the PostgreSQL catalog has no
// timeout of its own per statement: without a bound, a database that
// stopped answering (no reset, no keepalive yet) would hold every upload
// of the user for as long as the connection lives. A batch that times out
// fails every member, as any failed count does (nothing is stored).
const usageBatchTimeout = 30 * time.Second

func newUsageBatches(u catalog.Usages) *usageBatches {
	return &usageBatches{usages: u, users: make(map[string]*userBatches)}
}

// batchable reports whether an addition may join a batch.
func batchable(delta, limit catalog.Usage) bool {
	return limit == (catalog.Usage{}) && delta.Bytes >= 0 && delta.Files >= 0
}

// add adds delta to userID's usage (without a limit) and returns the
// total after the batch it joined. It waits for that batch whatever ctx
// does: the batch's call counts every member's delta, so a member that
// left early could not tell whether its delta was counted. The call runs
// under ctx's values without its cancellation (one member leaving must
// not fail the others); usageBatchTimeout bounds it.
func (b *usageBatches) add(ctx context.Context, userID string, delta catalog.Usage) (catalog.Usage, error) {
	b.mu.Lock()
	u := b.users[userID]
	if u == nil {
		u = &userBatches{}
		b.users[userID] = u
	}
	if u.next == nil {
		u.next = &usageBatch{done: make(chan struct{})}
	}
	batch := u.next
	batch.delta.Bytes += delta.Bytes
	batch.delta.Files += delta.Files
	batch.members++
	if !u.running {
		u.running = true
		go b.run(context.WithoutCancel(ctx), userID, u)
	}
	b.mu.Unlock()
	<-batch.done
	return batch.total, batch.err
}

// run makes one catalog call per batch of userID until no addition is
// waiting, then forgets the user.
func (b *usageBatches) run(ctx context.Context, userID string, u *userBatches) {
	for {
		b.mu.Lock()
		batch := u.next
		if batch == nil {
			u.running = false
			delete(b.users, userID)
			b.mu.Unlock()
			return
		}
		u.next = nil
		b.calls++
		b.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, usageBatchTimeout)
		batch.total, batch.err = b.usages.AddUsage(cctx, userID, batch.delta, catalog.Usage{})
		cancel()
		close(batch.done)
	}
}
