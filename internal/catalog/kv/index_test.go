package kv

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func ids(entries []catalog.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Record.ID)
	}
	slices.Sort(out)
	return out
}

func listState(t *testing.T, c *Catalog, s media.State) []string {
	t.Helper()
	var out []catalog.Entry
	if err := c.ListByState(t.Context(), s, func(e catalog.Entry) error {
		if e.Record.State != s {
			t.Errorf("ListByState(%s) returned a %s record", s, e.Record.State)
		}
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids(out)
}

func TestIndexes(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{})
	alice, bob := "@alice:example.org", "@bob:other.org:8448"
	for _, r := range []media.Record{
		pending("example.org", "a1", alice, shaA),
		pending("example.org", "a2", alice, shaB),
		pending("example.org", "b1", bob, shaA),
		media.NewReserved("example.org", "r1", bob, t0, t0.Add(3600e9)),
	} {
		if _, err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	byHash, err := c.ByHash(ctx, shaA)
	if err != nil {
		t.Fatal(err)
	}
	check("ByHash(A)", ids(byHash), "a1", "b1")
	byUser, err := collectByUploader(ctx, c, bob)
	if err != nil {
		t.Fatal(err)
	}
	check("ByUploader(bob)", ids(byUser), "b1", "r1")
	check("pending", listState(t, c, media.StatePending), "a1", "a2", "b1")
	check("reserved", listState(t, c, media.StateReserved), "r1")

	// State changes move records between state indexes.
	if _, _, err := catalog.Apply(ctx, c, "example.org", "a1", cleanVerdict()); err != nil {
		t.Fatal(err)
	}
	upload := media.Change{Transition: media.Upload, At: t0.Add(60e9), Actor: bob,
		Content: &media.Content{Size: 1, SHA256: shaB, BlobKey: "k"}}
	if _, _, err := catalog.Apply(ctx, c, "example.org", "r1", upload); err != nil {
		t.Fatal(err)
	}
	check("pending after verdict+upload", listState(t, c, media.StatePending), "a2", "b1", "r1")
	check("reserved after upload", listState(t, c, media.StateReserved))
	check("clean (walk)", listState(t, c, media.StateClean), "a1")
	byHash, _ = c.ByHash(ctx, shaB)
	check("ByHash(B) after upload", ids(byHash), "a2", "r1")

	if _, err := c.ByHash(ctx, "nothex"); !errors.Is(err, media.ErrInvalidID) {
		t.Errorf("ByHash(bad): %v", err)
	}
	if _, err := collectByUploader(ctx, c, "alice"); !errors.Is(err, media.ErrInvalidUserID) {
		t.Errorf("ByUploader(bad): %v", err)
	}
	stop := errors.New("stop")
	if err := c.ListByState(ctx, media.StatePending, func(catalog.Entry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ListByState did not return fn's error: %v", err)
	}
}

// TestIndexCheckedOnRead: entries that contradict their record are never
// returned; stale ones are pruned, dangling ones after the grace period,
// and Reindex restores missing ones.
func TestIndexCheckedOnRead(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{IndexGrace: 1}) // 1ns: dangling entries are old at once
	rec := pending("example.org", "m", "@alice:example.org", shaA)
	rev, err := c.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	// A crashed writer left entries: a state the record is not in (written
	// for an older revision), a hash it does not have, and an entry for a
	// record that never got written.
	stateKey := indexKey(idxState, "quarantined", "example.org", "m")
	hashKey := indexKey(idxHash, shaB, "example.org", "m")
	danglingKey := indexKey(idxHash, shaB, "example.org", "ghost")
	if err := c.putIndexes(ctx, []string{stateKey, hashKey, danglingKey}, 0); err != nil {
		t.Fatal(err)
	}
	// An in-flight writer's entry (base revision == current) must survive.
	inflight := indexKey(idxState, "blocked", "example.org", "m")
	if err := c.putIndexes(ctx, []string{inflight}, rev); err != nil {
		t.Fatal(err)
	}
	if got := listState(t, c, media.StateQuarantined); len(got) != 0 {
		t.Fatalf("stale state entry returned: %v", got)
	}
	if got := listState(t, c, media.StateBlocked); len(got) != 0 {
		t.Fatalf("in-flight state entry returned: %v", got)
	}
	byHash, err := c.ByHash(ctx, shaB)
	if err != nil || len(byHash) != 0 {
		t.Fatalf("ByHash(B) = %v, %v; want nothing", ids(byHash), err)
	}
	exists := func(k string) bool {
		_, err := c.index.Get(ctx, k)
		return err == nil
	}
	if exists(stateKey) || exists(hashKey) || exists(danglingKey) {
		t.Fatal("contradicted entries were not pruned on read")
	}
	if !exists(inflight) {
		t.Fatal("an in-flight writer's entry was pruned")
	}
	if v := metricValue(t, c.metrics.staleIndex); v < 4 {
		t.Errorf("stale index counter = %v, want >= 4", v)
	}

	// Lose the real entries, as a crash between index and record would not
	// (entries come first) but an operator's purge might; Reindex repairs.
	// The stream purge leaves no marker: the entries are lost, not removed.
	for _, k := range indexKeys(rec) {
		if err := c.indexStream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+c.opts.IndexBucket+"."+k)); err != nil {
			t.Fatal(err)
		}
	}
	if got := listState(t, c, media.StatePending); len(got) != 0 {
		t.Fatalf("pending after purge: %v", got)
	}
	st, err := c.Reindex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The in-flight entry's write never happened: after Reindex saw the
	// record move on, it goes. Here the record did not move, so it stays.
	if st.Records != 1 || st.Added != 3 {
		t.Fatalf("Reindex = %+v, want 1 record, 3 added", st)
	}
	if got := listState(t, c, media.StatePending); !slices.Equal(got, []string{"m"}) {
		t.Fatalf("pending after Reindex: %v", got)
	}
	if _, _, err := catalog.Apply(ctx, c, "example.org", "m", cleanVerdict()); err != nil {
		t.Fatal(err)
	}
	st, err = c.Reindex(ctx)
	if err != nil || st.Removed != 1 || exists(inflight) {
		t.Fatalf("Reindex after the record moved on = %+v, %v; in-flight entry still there: %v", st, err, exists(inflight))
	}
}

// collectByUploader collects ByUploader's records.
func collectByUploader(ctx context.Context, c *Catalog, user string) ([]catalog.Entry, error) {
	var out []catalog.Entry
	err := c.ByUploader(ctx, user, func(e catalog.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}
