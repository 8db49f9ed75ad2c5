package kv

import (
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

func TestLease(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{})
	const name, ttl = "reconciler", 2 * time.Second
	a, err := c.AcquireLease(ctx, name, "host-a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, name, "host-b", ttl); !errors.Is(err, catalog.ErrLeaseHeld) {
		t.Fatalf("second holder: %v, want catalog.ErrLeaseHeld", err)
	}
	// Renewing keeps it past the first TTL.
	time.Sleep(ttl / 2)
	a2, err := c.AcquireLease(ctx, name, "host-a", ttl)
	if err != nil || a2.Revision <= a.Revision {
		t.Fatalf("renew: %+v, %v", a2, err)
	}
	renewed := time.Now()
	time.Sleep(ttl * 3 / 4)
	if _, err := c.AcquireLease(ctx, name, "host-b", ttl); !errors.Is(err, catalog.ErrLeaseHeld) {
		t.Fatalf("B took a renewed lease: %v", err)
	}
	// Without renewal it expires and B gets it.
	var b catalog.Lease
	for {
		b, err = c.AcquireLease(ctx, name, "host-b", ttl)
		if err == nil {
			break
		}
		if !errors.Is(err, catalog.ErrLeaseHeld) {
			t.Fatal(err)
		}
		if time.Since(renewed) > ttl+5*time.Second {
			t.Fatal("lease never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(renewed); d < ttl {
		t.Fatalf("B acquired %s after A's renewal, before the TTL of %s", d, ttl)
	}
	if _, err := c.AcquireLease(ctx, name, "host-a", ttl); !errors.Is(err, catalog.ErrLeaseHeld) {
		t.Fatalf("A after losing: %v", err)
	}
	if err := c.ReleaseLease(ctx, a2); !errors.Is(err, catalog.ErrLeaseLost) {
		t.Fatalf("A releasing a lost lease: %v", err)
	}
	if err := c.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, name, "host-a", ttl); err != nil {
		t.Fatalf("A after B released: %v", err)
	}
	// Leases are independent by name, and names may be any string.
	if _, err := c.AcquireLease(ctx, "gc:blobs/fs", "host-b", ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, name, "host-a", 10*time.Millisecond); err == nil {
		t.Fatal("TTL below the minimum accepted")
	}
}
