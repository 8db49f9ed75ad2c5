package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Leases live in their own bucket, one key per lease name, the holder as
// the value and a per-message TTL (Nats-TTL): the server removes a lease
// that is not renewed in time, leaving a marker, after which anyone may
// create it again. Taking and renewing are compare-and-sets on the key's
// last revision, so two holders can never both succeed. Expiry is measured
// by the server's clock; Lease.Expires is the holder's own estimate and
// errs on the early side (taken before the request was sent).

// MinLeaseTTL is the shortest lease TTL accepted (the server's TTL
// granularity is one second).
const MinLeaseTTL = time.Second

// AcquireLease implements Leases.
func (c *KV) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	if name == "" || holder == "" || ttl < MinLeaseTTL {
		return Lease{}, fmt.Errorf("catalog: lease needs a name, a holder and a TTL of at least %s", MinLeaseTTL)
	}
	key := escapeToken(name)
	for range 3 {
		start := time.Now()
		rev, err := c.leases.Create(ctx, key, []byte(holder), jetstream.KeyTTL(ttl))
		if err == nil {
			return Lease{Name: name, Holder: holder, Revision: rev, Expires: start.Add(ttl)}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return Lease{}, fmt.Errorf("catalog: acquire lease %s: %w", name, err)
		}
		e, err := c.leases.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // expired between our two calls
		}
		if err != nil {
			return Lease{}, fmt.Errorf("catalog: acquire lease %s: %w", name, err)
		}
		if string(e.Value()) != holder {
			return Lease{}, fmt.Errorf("%w: %s is held by %s", ErrLeaseHeld, name, e.Value())
		}
		l, err := c.renew(ctx, Lease{Name: name, Holder: holder, Revision: e.Revision()}, ttl)
		if errors.Is(err, ErrLeaseLost) {
			continue
		}
		return l, err
	}
	return Lease{}, fmt.Errorf("%w: %s changed hands while acquiring", ErrLeaseHeld, name)
}

// renew rewrites the holder's lease at its revision with a fresh TTL.
func (c *KV) renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	start := time.Now()
	msg := &nats.Msg{Subject: "$KV." + c.opts.LeaseBucket + "." + escapeToken(l.Name), Data: []byte(l.Holder)}
	ack, err := c.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(l.Revision), jetstream.WithMsgTTL(ttl))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return Lease{}, fmt.Errorf("%w: %s", ErrLeaseLost, l.Name)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("catalog: renew lease %s: %w", l.Name, err)
	}
	l.Revision = ack.Sequence
	l.Expires = start.Add(ttl)
	return l, nil
}

// ReleaseLease implements Leases.
func (c *KV) ReleaseLease(ctx context.Context, l Lease) error {
	err := c.leases.Purge(ctx, escapeToken(l.Name), jetstream.LastRevision(l.Revision), jetstream.PurgeTTL(MinLeaseTTL))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("%w: %s", ErrLeaseLost, l.Name)
	}
	if err != nil {
		return fmt.Errorf("catalog: release lease %s: %w", l.Name, err)
	}
	return nil
}
