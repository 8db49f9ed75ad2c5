package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Reservations (POST /create) are counted per uploader in slots: the
// bucket holds at most limit keys "<uploader>.<n>" per uploader, each
// naming the record that holds it and expiring with the reservation
// (a per-key TTL). Reserve takes a free slot with a create, which the
// server makes atomic, so concurrent reservations never pass the limit.
// Slots are not given back when a reservation is filled: when every slot
// is taken, Reserve reads the holders (at most limit records) and frees
// those that are no longer open reservations, with a compare-and-set on
// the slot. A slot whose holder does not exist yet is freed only after
// slotGrace (its create may still be on the way).

// slotGrace is how old a slot naming a missing record must be to be freed.
const slotGrace = time.Minute

// slotMargin is added to a slot's TTL beyond its reservation's expiry.
const slotMargin = time.Minute

// Reserve implements catalog.Reservations.
func (c *Catalog) Reserve(ctx context.Context, rec media.Record, limit int) (uint64, error) {
	if rec.State != media.StateReserved {
		return 0, fmt.Errorf("%w: Reserve takes a reserved record, not %s", media.ErrInvalidTransition, rec.State)
	}
	if err := media.ValidateUserID(rec.Uploader); err != nil {
		return 0, err
	}
	holder, err := recordKey(rec.Origin, rec.ID)
	if err != nil {
		return 0, err
	}
	if limit < 1 {
		return 0, fmt.Errorf("%w: no reservations allowed", media.ErrLimitExceeded)
	}
	ttl := max(rec.ExpiresAt.Sub(rec.CreatedAt), 0) + slotMargin
	prefix := escapeToken(rec.Uploader) + "."
	for range 3 {
		for n := range limit {
			slot := prefix + strconv.Itoa(n)
			_, err := c.reservations.Create(ctx, slot, []byte(holder), jetstream.KeyTTL(ttl))
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			if err != nil {
				return 0, c.failed("reserve", fmt.Errorf("catalog: reservation slot %s: %w", slot, err))
			}
			rev, err := c.Create(ctx, rec)
			if err != nil {
				// Give the slot back; if that fails, it is freed later (its
				// holder does not exist).
				_ = c.reservations.Purge(context.WithoutCancel(ctx), slot, jetstream.PurgeTTL(indexMarkerTTL))
				return 0, err
			}
			return rev, nil
		}
		freed, err := c.freeSlots(ctx, prefix, limit, rec.CreatedAt)
		if err != nil {
			return 0, err
		}
		if freed == 0 {
			return 0, fmt.Errorf("%w: %d media IDs await their upload", media.ErrLimitExceeded, limit)
		}
	}
	return 0, fmt.Errorf("%w: reservation slots of %s kept changing", media.ErrConflict, rec.Uploader)
}

// freeSlots frees the uploader's slots whose holders are no longer open
// reservations at now, and returns how many it freed.
func (c *Catalog) freeSlots(ctx context.Context, prefix string, limit int, now time.Time) (int, error) {
	freed := 0
	for n := range limit {
		slot := prefix + strconv.Itoa(n)
		e, err := c.reservations.Get(ctx, slot)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			freed++ // expired meanwhile
			continue
		}
		if err != nil {
			return 0, c.failed("reserve", fmt.Errorf("catalog: reservation slot %s: %w", slot, err))
		}
		rec, _, err := c.getKey(ctx, string(e.Value()))
		switch {
		case err == nil && rec.State == media.StateReserved && now.Before(rec.ExpiresAt):
			continue // an open reservation
		case errors.Is(err, media.ErrNotFound) && time.Since(e.Created()) < slotGrace:
			continue // its record may still be on the way
		case err != nil && !errors.Is(err, media.ErrNotFound):
			return 0, err
		}
		err = c.reservations.Purge(ctx, slot, jetstream.LastRevision(e.Revision()), jetstream.PurgeTTL(indexMarkerTTL))
		if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, c.failed("reserve", fmt.Errorf("catalog: free reservation slot %s: %w", slot, err))
		}
		freed++
	}
	return freed, nil
}
