package kv

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

var (
	t0      = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	shaA    = strings.Repeat("a1", 32)
	shaB    = strings.Repeat("b2", 32)
	officer = "@officer:example.org"
)

func newTestKV(t *testing.T, opts Options) *Catalog {
	t.Helper()
	c, err := New(t.Context(), startJetStream(t), opts, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func pending(origin, id, uploader, sha string) media.Record {
	return media.NewPending(origin, id, uploader, t0, media.Content{
		DeclaredType: "image/png", Size: 3, SHA256: sha, BlobKey: "blobs/" + sha,
	})
}

func cleanVerdict() media.Change {
	return media.Change{Transition: media.VerdictClean, At: t0, Actor: "worker-1",
		Verdict: &media.Verdict{Result: media.ResultClean, Engine: "ClamAV", SignatureVersion: "27000", ScannedAt: t0}}
}

func TestCreateGetUpdate(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{})
	rec := pending("example.org", "abc", "@alice:example.org", shaA)
	rev, err := c.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, rec); !errors.Is(err, media.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	got, gotRev, err := c.Get(ctx, "example.org", "abc")
	if err != nil || gotRev != rev || got.SHA256 != shaA || got.State != media.StatePending || len(got.History) != 1 {
		t.Fatalf("Get = %+v, %d, %v", got, gotRev, err)
	}
	next, err := got.Apply(cleanVerdict())
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := c.Update(ctx, next, rev)
	if err != nil || rev2 <= rev {
		t.Fatalf("Update: %d %v", rev2, err)
	}
	// A writer that read the old revision loses.
	q, _ := got.Apply(media.Change{Transition: media.Quarantine, At: t0, Actor: officer})
	if _, err := c.Update(ctx, q, rev); !errors.Is(err, media.ErrConflict) {
		t.Fatalf("stale Update: %v, want ErrConflict", err)
	}
	got, _, _ = c.Get(ctx, "example.org", "abc")
	if got.State != media.StateClean {
		t.Fatalf("state after lost CAS = %s", got.State)
	}

	for _, tt := range []struct {
		origin, id string
		want       error
	}{
		{"example.org", "nope", media.ErrNotFound},
		{"example.org", "../x", media.ErrInvalidID},
		{"exa mple.org", "abc", media.ErrInvalidServerName},
	} {
		if _, _, err := c.Get(ctx, tt.origin, tt.id); !errors.Is(err, tt.want) {
			t.Errorf("Get(%q, %q) = %v, want %v", tt.origin, tt.id, err, tt.want)
		}
	}
	if _, err := c.Update(ctx, pending("example.org", "nope", "", shaA), 1); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Update of missing record: %v", err)
	}
}

// TestModifyConcurrent: many goroutines modify one record; every change
// must be in the final record (no lost update).
func TestModifyConcurrent(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{ModifyAttempts: 1000})
	if _, err := c.Create(ctx, pending("example.org", "counter", "@alice:example.org", shaA)); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, _, err := c.Modify(ctx, "example.org", "counter", func(r *media.Record) error {
					r.Size++
					r.History = append(r.History, media.Event{At: t0, Actor: fmt.Sprintf("w%d-%d", w, i), Action: "test", To: r.State})
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _, err := c.Get(ctx, "example.org", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 3+workers*each || len(got.History) != 1+workers*each {
		t.Fatalf("size %d, %d events; want %d, %d", got.Size, len(got.History), 3+workers*each, 1+workers*each)
	}
	t.Logf("CAS conflicts: %v", metricValue(t, c.metrics.conflicts.WithLabelValues("record")))
}

func TestModifyGivesUpAndPropagates(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{ModifyAttempts: 2})
	if _, err := c.Create(ctx, pending("example.org", "x", "@alice:example.org", shaA)); err != nil {
		t.Fatal(err)
	}
	// fn itself writes the record, so every CAS of Modify loses.
	_, _, err := c.Modify(ctx, "example.org", "x", func(r *media.Record) error {
		_, _, err := c.Modify(ctx, "example.org", "x", func(inner *media.Record) error { inner.Size++; return nil })
		return err
	})
	if !errors.Is(err, media.ErrConflict) {
		t.Fatalf("Modify under constant interference: %v, want ErrConflict", err)
	}
	boom := errors.New("boom")
	if _, _, err := c.Modify(ctx, "example.org", "x", func(*media.Record) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error not returned: %v", err)
	}
	if _, _, err := c.Modify(ctx, "example.org", "x", func(r *media.Record) error { r.ID = "y"; return nil }); !errors.Is(err, media.ErrInvalidID) {
		t.Fatalf("ID change accepted: %v", err)
	}
	if _, _, err := c.Modify(ctx, "example.org", "missing", func(*media.Record) error { return nil }); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("Modify of missing record: %v", err)
	}
}

// TestApplyOfficerWins: an officer's quarantine lands first; the worker's
// clean verdict afterwards fails with ErrStale and changes nothing.
func TestApplyOfficerWins(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{})
	if _, err := c.Create(ctx, pending("example.org", "m", "@alice:example.org", shaA)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := catalog.Apply(ctx, c, "example.org", "m", media.Change{Transition: media.Quarantine, At: t0, Actor: officer, Reason: "spam wave"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := catalog.Apply(ctx, c, "example.org", "m", cleanVerdict())
	if !errors.Is(err, media.ErrStale) {
		t.Fatalf("worker verdict after officer: %v, want ErrStale", err)
	}
	got, _, _ := c.Get(ctx, "example.org", "m")
	if got.State != media.StateQuarantined || len(got.History) != 2 {
		t.Fatalf("record = %s with %d events", got.State, len(got.History))
	}
}

// TestOddKeys: server names with ports and IPv6 literals, and user IDs
// with every odd character, round-trip as keys.
func TestOddKeys(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{})
	cases := []struct{ origin, user string }{
		{"matrix.example.org:8448", "@a.b_c=d-e/f+g:matrix.example.org:8448"},
		{"[2001:db8::1]:8448", "@Hist!~*'():[2001:db8::1]:8448"},
		{"1.2.3.4", "@x..y:1.2.3.4"},
		{"localhost", "@=3A:localhost"},
	}
	for i, tt := range cases {
		id := fmt.Sprintf("id-%d", i)
		if _, err := c.Create(ctx, pending(tt.origin, id, tt.user, shaB)); err != nil {
			t.Fatalf("Create(%q): %v", tt.origin, err)
		}
		got, _, err := c.Get(ctx, tt.origin, id)
		if err != nil || got.Origin != tt.origin || got.Uploader != tt.user {
			t.Fatalf("Get(%q) = %+v, %v", tt.origin, got, err)
		}
		byUser, err := collectByUploader(ctx, c, tt.user)
		if err != nil || len(byUser) != 1 || byUser[0].Record.ID != id {
			t.Fatalf("ByUploader(%q) = %+v, %v", tt.user, byUser, err)
		}
	}
	byHash, err := c.ByHash(ctx, shaB)
	if err != nil || len(byHash) != len(cases) {
		t.Fatalf("ByHash = %d entries, %v", len(byHash), err)
	}
}

func TestEscapeToken(t *testing.T) {
	for _, s := range []string{"", "plain", "matrix.example.org:8448", "[::1]:80", "@a=b:c", "=3A", "ä/\x00."} {
		tok := escapeToken(s)
		for i := 0; i < len(tok); i++ {
			ch := tok[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' || ch == '=') {
				t.Fatalf("escapeToken(%q) = %q has %q", s, tok, ch)
			}
		}
		back, err := unescapeToken(tok)
		if err != nil || back != s {
			t.Fatalf("unescapeToken(escapeToken(%q)) = %q, %v", s, back, err)
		}
	}
	for _, bad := range []string{"=", "=4", "=ZZ"} {
		if _, err := unescapeToken(bad); err == nil {
			t.Errorf("unescapeToken(%q) accepted", bad)
		}
	}
}

func TestBlobs(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{ModifyAttempts: 1000})
	b := media.NewBlob(shaA, "blobs/"+shaA, 10, t0)
	rev, err := c.CreateBlob(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBlob(ctx, b); !errors.Is(err, media.ErrExists) {
		t.Fatalf("second CreateBlob: %v", err)
	}
	if _, err := c.UpdateBlob(ctx, b, rev+100); !errors.Is(err, media.ErrConflict) {
		t.Fatalf("stale UpdateBlob: %v", err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, _, err := c.ModifyBlob(ctx, shaA, func(b *media.Blob) error {
				n, err := b.AddRef(t0)
				*b = n
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, rev, err := c.GetBlob(ctx, shaA)
	if err != nil || got.RefCount != 11 {
		t.Fatalf("refcount %d, %v; want 11", got.RefCount, err)
	}
	got = got.WithVerdict(media.Verdict{Result: media.ResultInfected, Signature: "Eicar"}, t0)
	if _, err := c.UpdateBlob(ctx, got, rev); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ModifyBlob(ctx, shaA, func(b *media.Blob) error {
		n, err := b.AddRef(t0)
		*b = n
		return err
	})
	if !errors.Is(err, media.ErrHashBlocked) {
		t.Fatalf("AddRef on infected hash: %v", err)
	}
	_, rev, _ = c.GetBlob(ctx, shaA)
	if err := c.DeleteBlob(ctx, shaA, rev-1); !errors.Is(err, media.ErrConflict) {
		t.Fatalf("DeleteBlob at stale rev: %v", err)
	}
	if err := c.DeleteBlob(ctx, shaA, rev); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.GetBlob(ctx, shaA); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("GetBlob after delete: %v", err)
	}
	if _, err := c.CreateBlob(ctx, b); err != nil {
		t.Fatalf("CreateBlob after delete: %v", err)
	}
	if _, _, err := c.GetBlob(ctx, "ABC"); !errors.Is(err, media.ErrInvalidID) {
		t.Fatalf("GetBlob(bad hash): %v", err)
	}
}

// metricValue reads a counter's or gauge's current value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
