// Package daily keeps per-day counters of rare events (infections,
// blocks) in a JetStream KV bucket: one key per kind and UTC day,
// incremented with compare-and-set, expiring after MaxAge. The officers'
// page reads 30 keys per kind for its chart instead of walking the
// catalog, so its cost does not grow with the number of media.
package daily

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Kinds of events counted.
const (
	// Infected counts infected verdicts stored on media.
	Infected = "infected"
	// Blocked counts media that ended blocked (unscannable, scan failed).
	Blocked = "blocked"
)

const (
	// DefaultBucket is the KV bucket of the counters.
	DefaultBucket = "mediarepo-daily"
	// MaxAge is how long a day's counter is kept after its last change.
	MaxAge = 40 * 24 * time.Hour
	// maxTries bounds the compare-and-set loop of Add.
	maxTries = 20
)

// ErrContended: Add lost its compare-and-set maxTries times in a row.
var ErrContended = errors.New("daily: counter contended")

// Counters is the bucket of counters. It is safe for concurrent use,
// also from several processes.
type Counters struct {
	kv jetstream.KeyValue
}

// New creates (or opens) the bucket with the given replicas.
func New(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Counters, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "mediarepo per-day counters (infections, blocks)",
		TTL: MaxAge, Replicas: max(replicas, 1), History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("daily: bucket %s: %w", bucket, err)
	}
	return &Counters{kv: kv}, nil
}

func key(kind string, day time.Time) string {
	return kind + "." + day.UTC().Format(time.DateOnly)
}

// Add adds one to kind's counter of the UTC day of at.
func (c *Counters) Add(ctx context.Context, kind string, at time.Time) error {
	k := key(kind, at)
	for range maxTries {
		e, err := c.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := c.kv.Create(ctx, k, []byte("1")); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("daily: create %s: %w", k, err)
			}
		case err != nil:
			return fmt.Errorf("daily: get %s: %w", k, err)
		default:
			n, err := strconv.ParseInt(string(e.Value()), 10, 64)
			if err != nil {
				return fmt.Errorf("daily: %s holds %q: %w", k, e.Value(), err)
			}
			if _, err := c.kv.Update(ctx, k, []byte(strconv.FormatInt(n+1, 10)), e.Revision()); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("daily: update %s: %w", k, err)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s", ErrContended, k)
}

// Day is one day's counts.
type Day struct {
	// Date is the UTC day (midnight).
	Date   time.Time
	Counts map[string]int64
}

// Last returns the counts of kinds for the n UTC days ending with the day
// of end, oldest first; a day without events counts 0.
func (c *Counters) Last(ctx context.Context, end time.Time, n int, kinds ...string) ([]Day, error) {
	last := end.UTC().Truncate(24 * time.Hour)
	days := make([]Day, n)
	for i := range days {
		d := Day{Date: last.AddDate(0, 0, i-n+1), Counts: map[string]int64{}}
		for _, kind := range kinds {
			e, err := c.kv.Get(ctx, key(kind, d.Date))
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("daily: get %s: %w", key(kind, d.Date), err)
			}
			v, err := strconv.ParseInt(string(e.Value()), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("daily: %s holds %q: %w", key(kind, d.Date), e.Value(), err)
			}
			d.Counts[kind] = v
		}
		days[i] = d
	}
	return days, nil
}
