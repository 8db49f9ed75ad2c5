package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Sweep ends every expired session (homeserver logout, then removal) and
// returns how many it ended. Several replicas may sweep at once: a logout
// of an already removed device succeeds, and removal is a compare-and-set.
func (st *Store) Sweep(ctx context.Context) (int, error) {
	lister, err := st.kv.ListKeys(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("session: list: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	_ = lister.Stop()
	now := st.now().UTC()
	ended := 0
	for _, k := range keys {
		s, rev, err := st.read(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return ended, err
		}
		if st.expired(s, now) && st.end(ctx, k, s, rev) {
			ended++
		}
	}
	return ended, nil
}

// Run sweeps every Options.SweepInterval until ctx ends.
func (st *Store) Run(ctx context.Context) error {
	t := time.NewTicker(st.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := st.Sweep(ctx); err != nil && ctx.Err() == nil {
				st.log.WarnContext(ctx, "session: sweep failed", "err", err)
			}
		}
	}
}
