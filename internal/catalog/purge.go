package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Purges of stored content (a deleted or erased record's blob, the
// thumbnails of a hash whose last reference went) are marked before they
// are tried: a purge intent (Intent with Purge set) names the key or the
// key prefix, and is removed only once the deletion succeeded. A failed
// or interrupted purge therefore stays marked, and the reconciler retries
// it (worker.collectIntents) until it succeeds; an officer's repeated
// delete tries again at once. Before deleting, every attempt checks that
// the per-hash record does not reference the content again (Referenced).

// PurgeStore deletes stored content (storage.Store and sealed.Store have it).
type PurgeStore interface {
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string, fn func(storage.Info) error) error
}

// BlobGetter reads per-hash records (Blobs has it).
type BlobGetter interface {
	GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error)
}

// PurgeCatalog is what a purge needs of the catalog.
type PurgeCatalog interface {
	PutIntent(ctx context.Context, in Intent) error
	DeleteIntent(ctx context.Context, blobKey string) error
	BlobGetter
}

// Referenced reports whether the per-hash record of sha256 references key
// (a blob key, or the hash's thumbnail set when key is a prefix): then it
// must not be purged.
func Referenced(ctx context.Context, cat BlobGetter, sha256, key string) (bool, error) {
	if sha256 == "" {
		return false, nil
	}
	b, _, err := cat.GetBlob(ctx, sha256)
	switch {
	case errors.Is(err, media.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	if strings.HasSuffix(key, "/") {
		return b.RefCount > 0, nil
	}
	return b.RefCount > 0 && b.BlobKey == key, nil
}

// Purge deletes the keys (a key ending in "/" is a prefix: everything
// under it) of content with the hash sha256, each under a purge intent
// created at at. A key the per-hash record references again is skipped.
// It tries every key and returns the failures joined; their intents stay
// for the reconciler.
func Purge(ctx context.Context, cat PurgeCatalog, store PurgeStore, sha256 string, keys []string, at time.Time) error {
	var errs []error
	for _, key := range keys {
		in := Intent{BlobKey: key, SHA256: sha256, CreatedAt: at, Purge: true}
		if err := cat.PutIntent(ctx, in); err != nil {
			errs = append(errs, fmt.Errorf("marking the purge of %s: %w", key, err))
			continue
		}
		errs = append(errs, SettlePurge(ctx, cat, store, in))
	}
	return errors.Join(errs...)
}

// SettlePurge carries out one purge intent: it deletes its key (or
// everything under its prefix) unless the per-hash record references it
// again, then removes the intent. On failure the intent stays.
func SettlePurge(ctx context.Context, cat PurgeCatalog, store PurgeStore, in Intent) error {
	ref, err := Referenced(ctx, cat, in.SHA256, in.BlobKey)
	if err != nil {
		return fmt.Errorf("purging %s: %w", in.BlobKey, err)
	}
	if !ref {
		if err := deleteKeys(ctx, store, in.BlobKey); err != nil {
			return fmt.Errorf("purging %s: %w", in.BlobKey, err)
		}
	}
	if err := cat.DeleteIntent(ctx, in.BlobKey); err != nil {
		return fmt.Errorf("purged %s, removing its mark: %w", in.BlobKey, err)
	}
	return nil
}

// deleteKeys deletes key, or every key under it when it ends in "/".
func deleteKeys(ctx context.Context, store PurgeStore, key string) error {
	if !strings.HasSuffix(key, "/") {
		if err := store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	}
	var keys []string
	if err := store.List(ctx, key, func(info storage.Info) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := store.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}
