package catalogtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// testUsages: per-user usage counters with limits, atomic under
// concurrency, never below zero, listed largest first.
func testUsages(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	if u, err := c.GetUsage(ctx, alice); err != nil || u != (catalog.Usage{}) {
		t.Fatalf("a user never counted: %+v %v", u, err)
	}
	if _, err := c.AddUsage(ctx, "not a user", catalog.Usage{Bytes: 1}, catalog.Usage{}); !errors.Is(err, media.ErrInvalidUserID) {
		t.Fatalf("an invalid user ID: %v", err)
	}
	limit := catalog.Usage{Bytes: 1000, Files: 3}
	// A first addition that alone passes the limit creates nothing.
	if u, err := c.AddUsage(ctx, alice, catalog.Usage{Bytes: 1001, Files: 1}, limit); !errors.Is(err, catalog.ErrQuotaExceeded) || u != (catalog.Usage{}) {
		t.Fatalf("a first addition over the limit: %+v %v", u, err)
	}
	if top, err := c.TopUsages(ctx, 5); err != nil || len(top) != 0 {
		t.Fatalf("usages after a refused first addition: %+v %v", top, err)
	}
	u, err := c.AddUsage(ctx, alice, catalog.Usage{Bytes: 600, Files: 1}, limit)
	if err != nil || u != (catalog.Usage{Bytes: 600, Files: 1}) {
		t.Fatalf("add: %+v %v", u, err)
	}
	for _, d := range []catalog.Usage{{Bytes: 401, Files: 1}, {Bytes: 0, Files: 3}} {
		u, err := c.AddUsage(ctx, alice, d, limit)
		if !errors.Is(err, catalog.ErrQuotaExceeded) || u != (catalog.Usage{Bytes: 600, Files: 1}) {
			t.Fatalf("over the limit with %+v: %+v %v", d, u, err)
		}
	}
	if u, err := c.AddUsage(ctx, alice, catalog.Usage{Bytes: 5000, Files: 5}, catalog.Usage{}); err != nil || u.Bytes != 5600 || u.Files != 6 {
		t.Fatalf("without limits: %+v %v", u, err)
	}
	if u, err := c.AddUsage(ctx, alice, catalog.Usage{Bytes: -100, Files: -1}, limit); err != nil || u.Bytes != 5500 || u.Files != 5 {
		t.Fatalf("a negative delta is never refused: %+v %v", u, err)
	}
	if u, err := c.AddUsage(ctx, alice, catalog.Usage{Bytes: -1 << 40, Files: -100}, catalog.Usage{}); err != nil || u != (catalog.Usage{}) {
		t.Fatalf("usage below zero: %+v %v", u, err)
	}

	// 16 concurrent adds of 100 bytes at a limit of 1000: exactly 10 pass.
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := c.AddUsage(ctx, bob, catalog.Usage{Bytes: 100, Files: 1}, catalog.Usage{Bytes: 1000})
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, catalog.ErrQuotaExceeded):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if u, _ := c.GetUsage(ctx, bob); ok.Load() != 10 || u != (catalog.Usage{Bytes: 1000, Files: 10}) {
		t.Fatalf("%d concurrent adds passed, usage %+v; want 10 and 1000 bytes", ok.Load(), u)
	}

	if _, err := c.AddUsage(ctx, officer, catalog.Usage{Bytes: 300, Files: 1}, catalog.Usage{}); err != nil {
		t.Fatal(err)
	}
	top, err := c.TopUsages(ctx, 5)
	if err != nil || len(top) != 2 || top[0].UserID != bob || top[1].UserID != officer || top[1].Bytes != 300 {
		t.Fatalf("top usages (alice at zero is left out): %+v %v", top, err)
	}
	if top, err := c.TopUsages(ctx, 1); err != nil || len(top) != 1 || top[0].UserID != bob {
		t.Fatalf("top 1: %+v %v", top, err)
	}
}
