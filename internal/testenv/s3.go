package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Client returns a minio-go client for the test MinIO.
func S3Client(t testing.TB) *minio.Client {
	t.Helper()
	env := S3(t)
	c, err := minio.New(env.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(env.AccessKey, env.SecretKey, ""),
		Secure: false,
	})
	if err != nil {
		t.Fatalf("minio client for %s: %v", env.Endpoint, err)
	}
	return c
}

// S3Bucket creates a fresh bucket with a random name in the test MinIO
// and removes it, with every object in it, when the test ends.
func S3Bucket(t testing.TB) (*minio.Client, string) {
	t.Helper()
	c := S3Client(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	bucket := "test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket %s in the test MinIO (is it running? run `make test`): %v", bucket, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err != nil {
				t.Errorf("list %s: %v", bucket, obj.Err)
				return
			}
			if err := c.RemoveObject(ctx, bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
				t.Errorf("remove %s/%s: %v", bucket, obj.Key, err)
			}
		}
		if err := c.RemoveBucket(ctx, bucket); err != nil {
			t.Errorf("remove bucket %s: %v", bucket, err)
		}
	})
	return c, bucket
}
