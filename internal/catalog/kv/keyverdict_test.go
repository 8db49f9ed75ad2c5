package kv

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

func TestKeyVerdicts(t *testing.T) {
	c := newTestKV(t, Options{})
	ctx := context.Background()
	k1, k2 := sha256.Sum256([]byte("key one")), sha256.Sum256([]byte("key two"))
	if _, err := c.GetKeyVerdict(ctx, "example.org:8448", "abc", k1); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("missing verdict: %v", err)
	}
	v := media.Verdict{Result: media.ResultInfected, Signature: "Eicar-Test-Signature", ScannedAt: time.Now().UTC().Truncate(time.Second)}
	if err := c.PutKeyVerdict(ctx, "example.org:8448", "abc", k1, v); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetKeyVerdict(ctx, "example.org:8448", "abc", k1)
	if err != nil || got.Result != v.Result || got.Signature != v.Signature || !got.ScannedAt.Equal(v.ScannedAt) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, other := range []struct {
		origin, id string
		key        [32]byte
	}{{"example.org:8448", "abc", k2}, {"example.org:8448", "abd", k1}, {"example.org", "abc", k1}} {
		if _, err := c.GetKeyVerdict(ctx, other.origin, other.id, other.key); !errors.Is(err, media.ErrNotFound) {
			t.Errorf("verdict leaked to %s/%s: %v", other.origin, other.id, err)
		}
	}
	if err := c.PutKeyVerdict(ctx, "bad server!", "abc", k1, v); !errors.Is(err, media.ErrInvalidServerName) {
		t.Fatalf("invalid origin: %v", err)
	}
}
