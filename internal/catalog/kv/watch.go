package kv

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/media"
)

// hub is the process-wide watch behind WaitFor (design §5): one JetStream
// watch on every key of the media bucket, started with the first waiter
// and kept until Close, fanned out by key to the registered waiters. A
// waiter registers before it reads the record and the hub tells every
// waiter to re-read whenever its watch (re)starts, so no change between a
// read and the next event is missed; a periodic re-read covers the rest.
type hub struct {
	c       *Catalog
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	waiters map[string]map[*waiter]struct{}
	started bool
	done    chan struct{}
}

type waiter struct {
	ch chan update // capacity 1, latest wins
}

// update is what the hub tells a waiter: a newer record, its removal, or
// that it should re-read (recheck) because events may have been missed.
type update struct {
	rec     media.Record
	rev     uint64
	gone    bool
	recheck bool
}

func newHub(c *Catalog) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{c: c, ctx: ctx, cancel: cancel, waiters: map[string]map[*waiter]struct{}{}, done: make(chan struct{})}
}

func (h *hub) register(key string) *waiter {
	w := &waiter{ch: make(chan update, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters[key] == nil {
		h.waiters[key] = map[*waiter]struct{}{}
	}
	h.waiters[key][w] = struct{}{}
	h.c.metrics.waiters.Inc()
	if !h.started && h.ctx.Err() == nil {
		h.started = true
		go h.run()
	}
	return w
}

func (h *hub) unregister(key string, w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiters[key], w)
	if len(h.waiters[key]) == 0 {
		delete(h.waiters, key)
	}
	h.c.metrics.waiters.Dec()
}

// close stops the watch and waits for it; it may be called repeatedly.
func (h *hub) close() {
	h.cancel()
	h.mu.Lock()
	if !h.started {
		h.started = true // never start after close
		close(h.done)
	}
	h.mu.Unlock()
	<-h.done
}

// run keeps one watch alive until the hub closes.
func (h *hub) run() {
	defer close(h.done)
	for h.ctx.Err() == nil {
		w, err := h.c.records.WatchAll(h.ctx, jetstream.UpdatesOnly())
		if err != nil {
			h.c.log.WarnContext(h.ctx, "catalog: record watch failed, retrying", "error", err)
			select {
			case <-h.ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		h.c.metrics.watches.Inc()
		h.broadcast(update{recheck: true})
		h.consume(w)
		_ = w.Stop()
	}
}

func (h *hub) consume(w jetstream.KeyWatcher) {
	for {
		select {
		case <-h.ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				h.dispatch(e)
			}
		}
	}
}

func (h *hub) dispatch(e jetstream.KeyValueEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.waiters[e.Key()]
	if len(ws) == 0 {
		return
	}
	u := update{rev: e.Revision()}
	switch e.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		u.gone = true
	default:
		if err := json.Unmarshal(e.Value(), &u.rec); err != nil {
			u = update{recheck: true}
		}
	}
	for w := range ws {
		w.send(u)
	}
}

func (h *hub) broadcast(u update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ws := range h.waiters {
		for w := range ws {
			w.send(u)
		}
	}
}

// send never blocks: the hub is the only sender, so after draining a
// pending update there is room for the newer one.
func (w *waiter) send(u update) {
	select {
	case w.ch <- u:
		return
	default:
	}
	select {
	case <-w.ch:
	default:
	}
	w.ch <- u
}

// WaitFor implements Waiter.
func (c *Catalog) WaitFor(ctx context.Context, origin, id string, cond func(media.Record) bool) (media.Record, error) {
	key, err := recordKey(origin, id)
	if err != nil {
		return media.Record{}, err
	}
	w := c.hub.register(key)
	defer c.hub.unregister(key, w)

	rec, rev, err := c.getKey(ctx, key)
	if err != nil {
		return media.Record{}, err
	}
	if cond(rec) {
		return rec, nil
	}
	tick := time.NewTicker(c.opts.RecheckInterval)
	defer tick.Stop()
	for {
		reread := false
		select {
		case <-ctx.Done():
			return media.Record{}, ctx.Err()
		case <-tick.C:
			reread = true
		case u := <-w.ch:
			switch {
			case u.recheck:
				reread = true
			case u.rev <= rev:
				continue // older than what we read
			case u.gone:
				return media.Record{}, media.ErrNotFound
			default:
				rec, rev = u.rec, u.rev
			}
		}
		if reread {
			r, v, err := c.getKey(ctx, key)
			if err != nil {
				if errors.Is(err, media.ErrNotFound) || ctx.Err() != nil {
					return media.Record{}, err
				}
				c.log.DebugContext(ctx, "catalog: re-read while waiting", "key", key, "error", err)
				continue
			}
			if v < rev {
				continue
			}
			rec, rev = r, v
		}
		if cond(rec) {
			return rec, nil
		}
	}
}
