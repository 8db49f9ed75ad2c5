package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Leases, counters and per-key verdicts: small tables, each change one
// statement. Lease expiry is measured by the database's clock
// (clock_timestamp()), so replicas with skewed clocks agree.

// MinLeaseTTL is the shortest lease TTL accepted (as for KV).
const MinLeaseTTL = time.Second

// AcquireLease implements catalog.Leases: one upsert that succeeds only
// for the holder or when the lease expired.
func (c *Catalog) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (catalog.Lease, error) {
	if name == "" || holder == "" || ttl < MinLeaseTTL {
		return catalog.Lease{}, fmt.Errorf("catalog: lease needs a name, a holder and a TTL of at least %s", MinLeaseTTL)
	}
	start := time.Now()
	var rev int64
	err := c.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, revision, expires_at)
		VALUES ($1, $2, nextval('catalog_revision'), clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, revision = EXCLUDED.revision, expires_at = EXCLUDED.expires_at
		WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= clock_timestamp()
		RETURNING revision`, name, holder, ttl.Microseconds()).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		var other string
		if err := c.pool.QueryRow(ctx, "SELECT holder FROM leases WHERE name = $1", name).Scan(&other); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return catalog.Lease{}, c.failed("lease", err)
		}
		return catalog.Lease{}, fmt.Errorf("%w: %s is held by %s", catalog.ErrLeaseHeld, name, other)
	}
	if err != nil {
		return catalog.Lease{}, c.failed("lease", fmt.Errorf("catalog: acquire lease %s: %w", name, err))
	}
	return catalog.Lease{Name: name, Holder: holder, Revision: uint64(rev), Expires: start.Add(ttl)}, nil
}

// ReleaseLease implements catalog.Leases.
func (c *Catalog) ReleaseLease(ctx context.Context, l catalog.Lease) error {
	tag, err := c.pool.Exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2 AND revision = $3 AND expires_at > clock_timestamp()",
		l.Name, l.Holder, int64(l.Revision))
	if err != nil {
		return c.failed("lease", fmt.Errorf("catalog: release lease %s: %w", l.Name, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", catalog.ErrLeaseLost, l.Name)
	}
	return nil
}

// AddRemoteBytes implements catalog.Counters in one conditional update.
func (c *Catalog) AddRemoteBytes(ctx context.Context, delta, limit int64) (int64, error) {
	var next int64
	err := c.pool.QueryRow(ctx, `UPDATE counters SET value = greatest(value + $1, 0)
		WHERE name = 'remote_bytes' AND NOT ($1 > 0 AND $2 > 0 AND value + $1 > $2) RETURNING value`, delta, limit).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		cur, err := c.RemoteBytes(ctx)
		if err != nil {
			return 0, err
		}
		return cur, fmt.Errorf("%w: %d bytes of remote media cached, %d more would pass the quota of %d", catalog.ErrQuotaExceeded, cur, delta, limit)
	}
	if err != nil {
		return 0, c.failed("add_counter", fmt.Errorf("catalog: counter remote_bytes: %w", err))
	}
	return next, nil
}

// RemoteBytes implements catalog.Counters.
func (c *Catalog) RemoteBytes(ctx context.Context) (int64, error) {
	var v int64
	if err := c.pool.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'remote_bytes'").Scan(&v); err != nil {
		return 0, c.failed("get_counter", fmt.Errorf("catalog: counter remote_bytes: %w", err))
	}
	return v, nil
}

// GetKeyVerdict implements catalog.KeyVerdicts.
func (c *Catalog) GetKeyVerdict(ctx context.Context, origin, id string, keyDigest [32]byte) (media.Verdict, error) {
	if _, err := encodeRecord(media.Record{Origin: origin, ID: id, State: media.StatePending}); err != nil {
		return media.Verdict{}, err
	}
	var data []byte
	err := c.pool.QueryRow(ctx, `SELECT verdict FROM key_verdicts
		WHERE origin = $1 AND id = $2 AND key_digest = $3 AND expires_at > clock_timestamp()`, origin, id, keyDigest[:]).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return media.Verdict{}, fmt.Errorf("%w: no verdict for this key", media.ErrNotFound)
	}
	if err != nil {
		return media.Verdict{}, c.failed("key_verdict", fmt.Errorf("catalog: key verdict: %w", err))
	}
	var v media.Verdict
	if err := json.Unmarshal(data, &v); err != nil {
		return media.Verdict{}, fmt.Errorf("catalog: key verdict: %w", err)
	}
	return v, nil
}

// keyVerdictPurgeBatch is how many expired per-key verdicts one
// PutKeyVerdict deletes on the way. More than the one row a put adds, so
// the table stays near the number of verdicts that have not expired.
const keyVerdictPurgeBatch = 16

// PutKeyVerdict implements catalog.KeyVerdicts. An expired verdict is
// never returned. Every put also deletes up to keyVerdictPurgeBatch
// expired rows, oldest first, found through key_verdicts_expiry: the
// table's size follows the verdicts written within the TTL, not every key
// ever scanned, and no periodic task reads it (the KV backend's bucket
// expires entries by itself).
func (c *Catalog) PutKeyVerdict(ctx context.Context, origin, id string, keyDigest [32]byte, v media.Verdict) error {
	if _, err := encodeRecord(media.Record{Origin: origin, ID: id, State: media.StatePending}); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("catalog: key verdict: %w", err)
	}
	// The purge skips the row being written: one statement must not
	// change a row twice. SKIP LOCKED leaves rows another put is purging.
	_, err = c.pool.Exec(ctx, `WITH purged AS (
			DELETE FROM key_verdicts WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM key_verdicts
				WHERE expires_at <= clock_timestamp()
					AND NOT (origin = $1 AND id = $2 AND key_digest = $3)
				ORDER BY expires_at LIMIT $6 FOR UPDATE SKIP LOCKED)))
		INSERT INTO key_verdicts (origin, id, key_digest, verdict, expires_at)
		VALUES ($1, $2, $3, $4, clock_timestamp() + $5 * interval '1 microsecond')
		ON CONFLICT (origin, id, key_digest) DO UPDATE SET verdict = EXCLUDED.verdict, expires_at = EXCLUDED.expires_at`,
		origin, id, keyDigest[:], string(data), c.opts.KeyVerdictTTL.Microseconds(), keyVerdictPurgeBatch)
	if err != nil {
		return c.failed("key_verdict", fmt.Errorf("catalog: key verdict: %w", err))
	}
	return nil
}
