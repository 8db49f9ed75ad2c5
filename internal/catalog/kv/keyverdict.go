package kv

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

var _ catalog.KeyVerdicts = (*Catalog)(nil)

func keyVerdictKey(origin, id string, digest [32]byte) (string, error) {
	rk, err := recordKey(origin, id)
	if err != nil {
		return "", err
	}
	return rk + "." + hex.EncodeToString(digest[:]), nil
}

// GetKeyVerdict implements KeyVerdicts.
func (c *Catalog) GetKeyVerdict(ctx context.Context, origin, id string, keyDigest [32]byte) (media.Verdict, error) {
	key, err := keyVerdictKey(origin, id, keyDigest)
	if err != nil {
		return media.Verdict{}, err
	}
	e, err := c.keyVerdicts.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return media.Verdict{}, fmt.Errorf("%w: no verdict for this key", media.ErrNotFound)
	}
	if err != nil {
		return media.Verdict{}, fmt.Errorf("catalog: key verdict: %w", err)
	}
	var v media.Verdict
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return media.Verdict{}, fmt.Errorf("catalog: key verdict %s: %w", key, err)
	}
	return v, nil
}

// PutKeyVerdict implements KeyVerdicts.
func (c *Catalog) PutKeyVerdict(ctx context.Context, origin, id string, keyDigest [32]byte, v media.Verdict) error {
	key, err := keyVerdictKey(origin, id, keyDigest)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("catalog: key verdict: %w", err)
	}
	if _, err := c.keyVerdicts.Put(ctx, key, b); err != nil {
		return fmt.Errorf("catalog: key verdict: %w", err)
	}
	return nil
}
