package kv

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Export reads a KV catalog without writing anything to it, not even the
// buckets' configuration or the open marker New writes: the source of
// `mediarepo catalog migrate`. Each listing reads its bucket once in
// stream order (no random reads) and calls fn from one goroutine.
type Export struct {
	records, blobs, keyVerdicts, intents, counters jetstream.KeyValue
}

// OpenExport binds the existing buckets named by opts (defaults as for
// New). A bucket that does not exist is an error for the media and blob
// buckets, and an empty listing for the others.
func OpenExport(ctx context.Context, js jetstream.JetStream, opts Options) (*Export, error) {
	opts.defaults()
	e := &Export{}
	for _, b := range []struct {
		dst      *jetstream.KeyValue
		name     string
		required bool
	}{
		{&e.records, opts.MediaBucket, true},
		{&e.blobs, opts.BlobBucket, true},
		{&e.keyVerdicts, opts.KeyVerdictBucket, false},
		{&e.intents, opts.IntentBucket, false},
		{&e.counters, opts.CounterBucket, false},
	} {
		kv, err := js.KeyValue(ctx, b.name)
		switch {
		case err == nil:
			*b.dst = kv
		case b.required || !errors.Is(err, jetstream.ErrBucketNotFound):
			return nil, fmt.Errorf("catalog: bucket %s: %w", b.name, err)
		}
	}
	return e, nil
}

// ApproxRecords is the number of entries in the media bucket (records
// plus the markers of deleted ones): a progress total, not a count.
func (e *Export) ApproxRecords(ctx context.Context) (uint64, error) {
	st, err := e.records.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.Values(), nil
}

// Records calls fn for every record.
func (e *Export) Records(ctx context.Context, fn func(media.Record) error) error {
	return watchValues(ctx, e.records, func(key string, v []byte) error {
		var rec media.Record
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("catalog: decode record %s: %w", key, err)
		}
		return fn(rec)
	})
}

// Blobs calls fn for every per-hash blob record.
func (e *Export) Blobs(ctx context.Context, fn func(media.Blob) error) error {
	return watchValues(ctx, e.blobs, func(key string, v []byte) error {
		var b media.Blob
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("catalog: decode blob record %s: %w", key, err)
		}
		return fn(b)
	})
}

// KeyVerdicts calls fn for every per-key verdict still kept.
func (e *Export) KeyVerdicts(ctx context.Context, fn func(origin, id string, digest [32]byte, v media.Verdict) error) error {
	if e.keyVerdicts == nil {
		return nil
	}
	return watchValues(ctx, e.keyVerdicts, func(key string, val []byte) error {
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return fmt.Errorf("catalog: key verdict key %q", key)
		}
		origin, id, err := parseRecordSuffix(key[:i])
		if err != nil {
			return err
		}
		var digest [32]byte
		if n, err := hex.Decode(digest[:], []byte(key[i+1:])); err != nil || n != 32 {
			return fmt.Errorf("catalog: key verdict key %q", key)
		}
		var v media.Verdict
		if err := json.Unmarshal(val, &v); err != nil {
			return fmt.Errorf("catalog: decode key verdict %s: %w", key, err)
		}
		return fn(origin, id, digest, v)
	})
}

// Intents calls fn for every upload intent.
func (e *Export) Intents(ctx context.Context, fn func(catalog.Intent) error) error {
	if e.intents == nil {
		return nil
	}
	return watchValues(ctx, e.intents, func(key string, v []byte) error {
		var in catalog.Intent
		if err := json.Unmarshal(v, &in); err != nil {
			return fmt.Errorf("catalog: decode intent %s: %w", key, err)
		}
		return fn(in)
	})
}

// RemoteBytes returns the count of cached remote bytes.
func (e *Export) RemoteBytes(ctx context.Context) (int64, error) {
	if e.counters == nil {
		return 0, nil
	}
	en, err := e.counters.Get(ctx, remoteBytesKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("catalog: counter %s: %w", remoteBytesKey, err)
	}
	return strconv.ParseInt(string(en.Value()), 10, 64)
}

// Usages calls fn for every per-user usage counter.
func (e *Export) Usages(ctx context.Context, fn func(userID string, u catalog.Usage) error) error {
	if e.counters == nil {
		return nil
	}
	return watchValues(ctx, e.counters, func(key string, v []byte) error {
		tok, ok := strings.CutPrefix(key, usagePrefix)
		if !ok {
			return nil
		}
		user, err := unescapeToken(tok)
		if err != nil {
			return err
		}
		var u catalog.Usage
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("catalog: decode usage %s: %w", key, err)
		}
		return fn(user, u)
	})
}

// watchValues calls fn with every live key and value of the bucket.
func watchValues(ctx context.Context, kv jetstream.KeyValue, fn func(key string, value []byte) error) error {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("catalog: read %s: %w", kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("catalog: read %s: watch closed early", kv.Bucket())
			}
			if e == nil {
				return nil
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				return err
			}
		}
	}
}
