package postgres

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// TestExpiredKeyVerdictsArePurged: expired per-key verdicts do not stay
// in the table for good. Every put deletes a bounded batch of expired rows,
// so after enough puts only the verdicts within the TTL remain, and a
// verdict that has not expired is never deleted.
func TestExpiredKeyVerdictsArePurged(t *testing.T) {
	ctx := t.Context()
	c := newTestCatalog(t, Options{KeyVerdictTTL: time.Second})
	verdict := media.Verdict{Result: media.ResultClean}
	const old = 40
	for i := range old {
		if err := c.PutKeyVerdict(ctx, "example.org", "old", sha256.Sum256([]byte(fmt.Sprint("old", i))), verdict); err != nil {
			t.Fatal(err)
		}
	}
	if n := countKeyVerdicts(t, c, false); n != old {
		t.Fatalf("%d rows after %d puts", n, old)
	}
	// Wait until every old row has expired (a condition, not a deadline).
	for countKeyVerdicts(t, c, true) < old {
		time.Sleep(100 * time.Millisecond)
	}

	// Each put of a fresh verdict (long TTL, a second process on the same
	// database) purges up to keyVerdictPurgeBatch expired rows.
	long := newTestCatalog(t, Options{DSN: c.opts.DSN, KeyVerdictTTL: time.Hour})
	puts := (old + keyVerdictPurgeBatch - 1) / keyVerdictPurgeBatch
	for i := range puts {
		if err := long.PutKeyVerdict(ctx, "example.org", "new", sha256.Sum256([]byte(fmt.Sprint("new", i))), verdict); err != nil {
			t.Fatal(err)
		}
		if got, want := countKeyVerdicts(t, c, true), old-(i+1)*keyVerdictPurgeBatch; got != max(want, 0) {
			t.Fatalf("after put %d: %d expired rows left, want %d", i+1, got, max(want, 0))
		}
	}
	if n := countKeyVerdicts(t, c, false); n != puts {
		t.Fatalf("%d rows left, want the %d fresh ones", n, puts)
	}
	for i := range puts {
		if _, err := long.GetKeyVerdict(ctx, "example.org", "new", sha256.Sum256([]byte(fmt.Sprint("new", i)))); err != nil {
			t.Fatalf("fresh verdict %d: %v", i, err)
		}
	}
}

// countKeyVerdicts counts the rows of key_verdicts, only the expired ones
// when expired is set.
func countKeyVerdicts(t *testing.T, c *Catalog, expired bool) int {
	t.Helper()
	q := "SELECT count(*) FROM key_verdicts"
	if expired {
		q += " WHERE expires_at <= clock_timestamp()"
	}
	var n int
	if err := c.pool.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
