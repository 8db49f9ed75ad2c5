package kv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// Leases live in their own bucket, one key per lease name, the holder as
// the value and a per-message TTL (Nats-TTL): the server removes a lease
// that is not renewed in time, leaving a marker, after which anyone may
// create it again. Taking and renewing are compare-and-sets on the key's
// last revision, so two holders can never both succeed. Expiry is measured
// by the server's clock; catalog.Lease.Expires is the holder's own estimate and
// errs on the early side (taken before the request was sent).

// MinLeaseTTL is the shortest lease TTL accepted (the server's TTL
// granularity is one second).
const MinLeaseTTL = time.Second

// AcquireLease implements Leases.
func (c *Catalog) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (catalog.Lease, error) {
	if name == "" || holder == "" || ttl < MinLeaseTTL {
		return catalog.Lease{}, fmt.Errorf("catalog: lease needs a name, a holder and a TTL of at least %s", MinLeaseTTL)
	}
	key := escapeToken(name)
	for range 3 {
		start := time.Now()
		rev, err := c.leases.Create(ctx, key, []byte(holder), jetstream.KeyTTL(ttl))
		if err == nil {
			return catalog.Lease{Name: name, Holder: holder, Revision: rev, Expires: start.Add(ttl)}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return catalog.Lease{}, fmt.Errorf("catalog: acquire lease %s: %w", name, err)
		}
		e, err := c.leases.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // expired between our two calls
		}
		if err != nil {
			return catalog.Lease{}, fmt.Errorf("catalog: acquire lease %s: %w", name, err)
		}
		if string(e.Value()) != holder {
			return catalog.Lease{}, fmt.Errorf("%w: %s is held by %s", catalog.ErrLeaseHeld, name, e.Value())
		}
		l, err := c.renew(ctx, catalog.Lease{Name: name, Holder: holder, Revision: e.Revision()}, ttl)
		if errors.Is(err, catalog.ErrLeaseLost) {
			continue
		}
		return l, err
	}
	return catalog.Lease{}, fmt.Errorf("%w: %s changed hands while acquiring", catalog.ErrLeaseHeld, name)
}

// renew rewrites the holder's lease at its revision with a fresh TTL.
func (c *Catalog) renew(ctx context.Context, l catalog.Lease, ttl time.Duration) (catalog.Lease, error) {
	start := time.Now()
	msg := &nats.Msg{Subject: "$KV." + c.opts.LeaseBucket + "." + escapeToken(l.Name), Data: []byte(l.Holder)}
	ack, err := c.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(l.Revision), jetstream.WithMsgTTL(ttl))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return catalog.Lease{}, fmt.Errorf("%w: %s", catalog.ErrLeaseLost, l.Name)
	}
	if err != nil {
		return catalog.Lease{}, fmt.Errorf("catalog: renew lease %s: %w", l.Name, err)
	}
	l.Revision = ack.Sequence
	l.Expires = start.Add(ttl)
	return l, nil
}

// ReleaseLease implements Leases.
func (c *Catalog) ReleaseLease(ctx context.Context, l catalog.Lease) error {
	err := c.leases.Purge(ctx, escapeToken(l.Name), jetstream.LastRevision(l.Revision), jetstream.PurgeTTL(MinLeaseTTL))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("%w: %s", catalog.ErrLeaseLost, l.Name)
	}
	if err != nil {
		return fmt.Errorf("catalog: release lease %s: %w", l.Name, err)
	}
	return nil
}
