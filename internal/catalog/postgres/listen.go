package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Waiting downloads are woken by LISTEN/NOTIFY rather than a NATS subject:
// the trigger records_notify sends the notification inside the writing
// transaction, so PostgreSQL delivers it at commit and only if the change
// commits, whoever wrote it (a replica, the scan workers, an officer, the
// migration tool); a NATS publish after the commit could be lost to a
// crash in between or arrive before the commit is visible. The cost is one
// connection per process, held by the listener.
//
// The hub is that listener: one connection (not from the pool), started
// with the first waiter and kept until Close, fanning each notification
// out by key to the registered waiters, which re-read their record. A
// waiter registers before it reads the record, and the hub wakes every
// waiter whenever it (re)connects, so no change between a read and the
// next notification is lost; a periodic re-read covers the rest.

const channel = "mediarepo_records"

type hub struct {
	c       *Catalog
	cfg     *pgx.ConnConfig
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	started bool
	done    chan struct{}
}

func newHub(c *Catalog, cfg *pgx.ConnConfig) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{c: c, cfg: cfg, ctx: ctx, cancel: cancel, waiters: map[string]map[chan struct{}]struct{}{}, done: make(chan struct{})}
}

func (h *hub) register(key string) chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters[key] == nil {
		h.waiters[key] = map[chan struct{}]struct{}{}
	}
	h.waiters[key][ch] = struct{}{}
	h.c.metrics.waiters.Inc()
	if !h.started && h.ctx.Err() == nil {
		h.started = true
		go h.run()
	}
	return ch
}

func (h *hub) unregister(key string, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiters[key], ch)
	if len(h.waiters[key]) == 0 {
		delete(h.waiters, key)
	}
	h.c.metrics.waiters.Dec()
}

func (h *hub) close() {
	h.cancel()
	h.mu.Lock()
	if !h.started {
		h.started = true
		close(h.done)
	}
	h.mu.Unlock()
	<-h.done
}

// run keeps one listening connection until the hub closes, reconnecting
// with a growing delay (at most 5s) while the database is away.
func (h *hub) run() {
	defer close(h.done)
	delay := 100 * time.Millisecond
	for h.ctx.Err() == nil {
		err := h.listen()
		if h.ctx.Err() != nil {
			return
		}
		h.c.log.WarnContext(h.ctx, "catalog: PostgreSQL listener lost, reconnecting", "error", err, "in", delay)
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (h *hub) listen() error {
	conn, err := pgx.ConnectConfig(h.ctx, h.cfg)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(h.ctx, "LISTEN "+channel); err != nil {
		return err
	}
	h.c.metrics.listens.Inc()
	// Changes while no listener ran are not notified: everyone re-reads.
	h.wakeAll()
	for {
		n, err := conn.WaitForNotification(h.ctx)
		if err != nil {
			return err
		}
		h.wake(n.Payload)
	}
}

func (h *hub) wake(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.waiters[key] {
		signal(ch)
	}
}

func (h *hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ws := range h.waiters {
		for ch := range ws {
			signal(ch)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// WaitFor implements catalog.Waiter.
func (c *Catalog) WaitFor(ctx context.Context, origin, id string, cond func(media.Record) bool) (media.Record, error) {
	if err := media.ValidateServerName(origin); err != nil {
		return media.Record{}, err
	}
	if err := media.ValidateMediaID(id); err != nil {
		return media.Record{}, err
	}
	key := origin + "/" + id
	ch := c.hub.register(key)
	defer c.hub.unregister(key, ch)
	tick := time.NewTicker(c.opts.RecheckInterval)
	defer tick.Stop()
	for {
		rec, _, err := c.Get(ctx, origin, id)
		if err != nil {
			if ctx.Err() != nil {
				return media.Record{}, ctx.Err()
			}
			return media.Record{}, err
		}
		if cond(rec) {
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return media.Record{}, ctx.Err()
		case <-ch:
		case <-tick.C:
		}
	}
}
