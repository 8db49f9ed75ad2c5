package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/s3"
	"github.com/mediarepo/mediarepo/internal/storage/storagetest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// testConfigs returns a configuration for every S3 server of the test
// environment (MinIO and SeaweedFS). A missing server fails the test: the
// S3 backend is never silently untested against either.
func testConfigs(t testing.TB) map[string]s3.Config {
	t.Helper()
	if storagetest.LargeSize < 2*s3.MinPartSize {
		t.Fatalf("suite's LargeSize %d is not multi-part with %d-byte parts", storagetest.LargeSize, s3.MinPartSize)
	}
	cfgs := map[string]s3.Config{}
	for name, env := range testenv.S3Servers(t) {
		cfgs[name] = s3.Config{
			Endpoint:  env.Endpoint,
			AccessKey: env.AccessKey,
			SecretKey: env.SecretKey,
			// Small parts so the suite's large objects go multi-part.
			PartSize:    s3.MinPartSize,
			Concurrency: 2,
		}
	}
	return cfgs
}

// forEachServer runs fn as a subtest per S3 server.
func forEachServer(t *testing.T, fn func(t *testing.T, cfg s3.Config)) {
	for name, cfg := range testConfigs(t) {
		t.Run(name, func(t *testing.T) { fn(t, cfg) })
	}
}

// newStore creates a store on a fresh bucket and removes the bucket after
// the test, failing if multipart uploads were left behind.
func newStore(t testing.TB, cfg s3.Config) *s3.Store {
	t.Helper()
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	cfg.Bucket = "mrtest-" + hex.EncodeToString(suffix[:])
	ctx := context.Background()
	s, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	t.Cleanup(func() { dropBucket(t, cfg) })
	return s
}

// dropBucket checks that no multipart upload was left incomplete, then
// empties and removes the bucket.
func dropBucket(t testing.TB, cfg s3.Config) {
	ctx := context.Background()
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: credentialsFor(cfg)})
	if err != nil {
		t.Errorf("cleanup client: %v", err)
		return
	}
	for up := range c.ListIncompleteUploads(ctx, cfg.Bucket, "", true) {
		if up.Err != nil {
			t.Errorf("list incomplete uploads: %v", up.Err)
			break
		}
		t.Errorf("incomplete multipart upload left behind: %s (%s)", up.Key, up.UploadID)
		_ = c.RemoveIncompleteUpload(ctx, cfg.Bucket, up.Key)
	}
	for oi := range c.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err == nil {
			_ = c.RemoveObject(ctx, cfg.Bucket, oi.Key, minio.RemoveObjectOptions{})
		}
	}
	if err := c.RemoveBucket(ctx, cfg.Bucket); err != nil {
		t.Errorf("remove bucket %s: %v", cfg.Bucket, err)
	}
}

func TestConformance(t *testing.T) {
	forEachServer(t, func(t *testing.T, cfg s3.Config) {
		storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t, cfg) })
	})
}

// The production path: sealing over S3 passes the same suite.
func TestSealedConformance(t *testing.T) {
	kr := testKeyring(t)
	forEachServer(t, func(t *testing.T, cfg s3.Config) {
		storagetest.Run(t, func(t *testing.T) storage.Store { return sealed.New(newStore(t, cfg), kr) })
	})
}

// testKeyring is a keyring of one fresh random master key.
func testKeyring(t testing.TB) *sealed.Keyring {
	t.Helper()
	key := make([]byte, sealed.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	kr, err := sealed.NewKeyring("test", map[string][]byte{"test": key})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// New creates the bucket once and reports truthfully whether the abort
// rule is installed (MinIO refuses the rule: its own stale-upload expiry
// covers it), and a second New on the same bucket works.
func TestNewBucketAndLifecycle(t *testing.T) {
	forEachServer(t, testNewBucketAndLifecycle)
}

func testNewBucketAndLifecycle(t *testing.T, cfg s3.Config) {
	s := newStore(t, cfg)
	ctx := context.Background()
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: credentialsFor(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BucketExists(ctx, s.Bucket()); err != nil || !ok {
		t.Fatalf("bucket %s after New: exists %v, %v", s.Bucket(), ok, err)
	}
	hasRule := func() bool {
		lc, err := c.GetBucketLifecycle(ctx, s.Bucket())
		if err != nil {
			return false
		}
		for _, r := range lc.Rules {
			if r.AbortIncompleteMultipartUpload.DaysAfterInitiation == 1 {
				return true
			}
		}
		return false
	}
	if hasRule() != s.AbortRule {
		t.Fatalf("AbortRule = %v, but the bucket's lifecycle says %v", s.AbortRule, hasRule())
	}
	cfg.Bucket = s.Bucket()
	again, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatalf("second New on an existing bucket: %v", err)
	}
	if again.AbortRule != s.AbortRule {
		t.Fatalf("second New: AbortRule %v, first %v", again.AbortRule, s.AbortRule)
	}
}

// Wrong credentials fail New instead of failing the first upload.
func TestNewRefusesBadCredentials(t *testing.T) {
	forEachServer(t, func(t *testing.T, cfg s3.Config) {
		cfg.Bucket = "mrtest-badcreds"
		cfg.SecretKey += "-wrong"
		if _, err := s3.New(context.Background(), cfg); err == nil {
			t.Fatal("New with a wrong secret key succeeded")
		}
	})
}

// A multipart upload, of known or unknown size, is followed by one forced
// collection (minio-go's part buffers are garbage then); an upload in one
// PUT allocates none and is not.
func TestMultipartUploadCollectsItsBuffers(t *testing.T) {
	forEachServer(t, func(t *testing.T, cfg s3.Config) {
		s := newStore(t, cfg)
		calls := s3.CountCollections(s)
		ctx := context.Background()
		small := make([]byte, cfg.PartSize)
		if err := s.Put(ctx, "one-put", bytes.NewReader(small), int64(len(small))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // a collection would have been started by now
		if n := calls(); n != 0 {
			t.Fatalf("%d collections after an upload in one PUT, want 0", n)
		}
		large := make([]byte, cfg.PartSize+1)
		for i, size := range []int64{int64(len(large)), -1} {
			if err := s.Put(ctx, fmt.Sprintf("multipart-%d", i), bytes.NewReader(large), size); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for calls() < i+1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := calls(); n != i+1 {
				t.Fatalf("size %d: %d collections after %d multipart uploads, want %d", size, n, i+1, i+1)
			}
		}
	})
}
