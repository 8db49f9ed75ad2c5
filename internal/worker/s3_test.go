package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/s3"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestOverS3 runs the worker over the sealed S3 backend (real MinIO): a
// multi-segment clean file read as one stream, a zip whose inspection
// uses ranged reads, and EICAR moved into quarantine inside the bucket.
func TestOverS3(t *testing.T) {
	_, bucket := testenv.S3Bucket(t)
	env := testenv.S3(t)
	backend, err := s3.New(context.Background(), s3.Config{Endpoint: env.Endpoint, Bucket: bucket, AccessKey: env.AccessKey, SecretKey: env.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil, backend, Options{})
	eicar := testenv.EICAR()
	cases := []struct {
		name  string
		data  []byte
		state media.State
	}{
		{"clean 3 MiB", testenv.Random(3 << 20), media.StateClean},
		{"zip with eicar after 1 MiB", testenv.Zip(t, testenv.ZipEntry{Name: "a.bin", Data: testenv.Random(1 << 20), Store: true}, testenv.ZipEntry{Name: "eicar.com", Data: eicar}), media.StateQuarantined},
		{"eicar", eicar, media.StateQuarantined},
	}
	for _, c := range cases {
		rec, rev := f.upload(c.data)
		f.requireAcked(f.handle(rec, rev, 1))
		got := f.get(rec)
		if got.State != c.state {
			t.Fatalf("%s: %s %+v, want %s", c.name, got.State, got.Verdict, c.state)
		}
		if c.state != media.StateQuarantined {
			continue
		}
		if !strings.HasPrefix(got.BlobKey, DefaultQuarantinePrefix) {
			t.Fatalf("%s: blob at %s, want it in quarantine", c.name, got.BlobKey)
		}
		if _, err := backend.Stat(context.Background(), rec.BlobKey); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: the servable key still exists in the bucket: %v", c.name, err)
		}
		if err := sameContent(f, got.BlobKey, c.data); err != nil {
			t.Fatal(err)
		}
	}
}
