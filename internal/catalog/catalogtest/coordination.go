package catalogtest

import (
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func testLeases(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	const name, ttl = "reconciler", 2 * time.Second
	a, err := c.AcquireLease(ctx, name, "host-a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AcquireLease(ctx, name, "host-b", ttl)
	wantErr(t, "a held lease", err, catalog.ErrLeaseHeld)
	a2, err := c.AcquireLease(ctx, name, "host-a", ttl)
	if err != nil || a2.Revision == a.Revision || !a2.Expires.After(a.Expires) {
		t.Fatalf("renewal = %+v, %v (was %+v)", a2, err, a)
	}
	// Once it lapses, another holder takes it and the old one lost it.
	var b catalog.Lease
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err = c.AcquireLease(ctx, name, "host-b", ttl)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease never lapsed: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if time.Now().Before(a2.Expires.Add(-100 * time.Millisecond)) {
		t.Fatalf("host-b took the lease before host-a's expiry %v", a2.Expires)
	}
	_, err = c.AcquireLease(ctx, name, "host-a", ttl)
	wantErr(t, "the old holder after expiry", err, catalog.ErrLeaseHeld)
	wantErr(t, "release of a lost lease", c.ReleaseLease(ctx, a2), catalog.ErrLeaseLost)
	if err := c.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, name, "host-a", ttl); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if _, err := c.AcquireLease(ctx, "gc:blobs/fs", "host-b", ttl); err != nil {
		t.Fatalf("another lease name: %v", err)
	}
	if _, err := c.AcquireLease(ctx, name, "host-a", 10*time.Millisecond); err == nil {
		t.Fatal("a TTL below the minimum was accepted")
	}
}

func testCounters(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	if v, err := c.RemoteBytes(ctx); err != nil || v != 0 {
		t.Fatalf("fresh counter = %d, %v", v, err)
	}
	if v, err := c.AddRemoteBytes(ctx, 600, 1000); err != nil || v != 600 {
		t.Fatalf("add 600 = %d, %v", v, err)
	}
	v, err := c.AddRemoteBytes(ctx, 500, 1000)
	wantErr(t, "over the quota", err, catalog.ErrQuotaExceeded)
	if got, _ := c.RemoteBytes(ctx); got != 600 {
		t.Fatalf("a refused add changed the counter to %d (returned %d)", got, v)
	}
	if v, err := c.AddRemoteBytes(ctx, 500, 0); err != nil || v != 1100 {
		t.Fatalf("unlimited add = %d, %v", v, err)
	}
	if v, err := c.AddRemoteBytes(ctx, -5000, 1000); err != nil || v != 0 {
		t.Fatalf("the counter went below 0: %d, %v", v, err)
	}
	// Concurrent adds under a limit: exactly the ones that fit succeed.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 20 {
		wg.Go(func() {
			if _, err := c.AddRemoteBytes(ctx, 100, 1000); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got, _ := c.RemoteBytes(ctx); ok != 10 || got != 1000 {
		t.Fatalf("%d of 20 concurrent adds of 100 under 1000 succeeded, total %d; want 10 and 1000", ok, got)
	}
}

func testKeyVerdicts(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	k1, k2 := [32]byte{1}, [32]byte{2}
	_, err := c.GetKeyVerdict(ctx, "example.org:8448", "abc", k1)
	wantErr(t, "no verdict yet", err, media.ErrNotFound)
	v := media.Verdict{Result: media.ResultClean, Engine: "clamd", ScannedAt: t0}
	if err := c.PutKeyVerdict(ctx, "example.org:8448", "abc", k1, v); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetKeyVerdict(ctx, "example.org:8448", "abc", k1)
	if err != nil || got.Result != media.ResultClean || !got.ScannedAt.Equal(t0) {
		t.Fatalf("GetKeyVerdict = %+v, %v", got, err)
	}
	infected := media.Verdict{Result: media.ResultInfected, Signature: "Eicar", Engine: "clamd", ScannedAt: t0}
	if err := c.PutKeyVerdict(ctx, "example.org:8448", "abc", k1, infected); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetKeyVerdict(ctx, "example.org:8448", "abc", k1); got.Result != media.ResultInfected {
		t.Fatalf("a replaced verdict reads %s", got.Result)
	}
	for _, other := range []struct {
		origin, id string
		key        [32]byte
	}{{"example.org:8448", "abc", k2}, {"example.org:8448", "abd", k1}, {"example.org", "abc", k1}} {
		_, err := c.GetKeyVerdict(ctx, other.origin, other.id, other.key)
		wantErr(t, "another key or media", err, media.ErrNotFound)
	}
	wantErr(t, "PutKeyVerdict with a bad origin", c.PutKeyVerdict(ctx, "bad server!", "abc", k1, v), media.ErrInvalidServerName)
}
