package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// BenchmarkS3 puts and gets 10 KB (16 in flight, the chat-media case) and
// 1 MB objects through the S3 store, raw and sealed, against the MinIO of
// scripts/testenv. It is the profile target of the S3 path:
// go test -run '^$' -bench S3 -cpuprofile cpu.out -memprofile mem.out.
func BenchmarkS3(b *testing.B) {
	cfg := testConfigs(b)["minio"]
	raw := newStore(b, cfg)
	stores := map[string]storage.Store{"raw": raw, "sealed": sealed.New(raw, testKeyring(b))}
	for _, size := range []int{10_000, 1_000_000} {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"raw", "sealed"} {
			s := stores[mode]
			ctx := context.Background()
			var seq atomic.Int64
			b.Run(fmt.Sprintf("put/%s/%dKB", mode, size/1000), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.SetParallelism(8) // 16 in flight on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := fmt.Sprintf("bench/%s/%d/%d", mode, size, seq.Add(1)%64)
						if err := s.Put(ctx, k, bytes.NewReader(data), int64(size)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run(fmt.Sprintf("get/%s/%dKB", mode, size/1000), func(b *testing.B) {
				k := fmt.Sprintf("bench/%s/%d/get", mode, size)
				if err := s.Put(ctx, k, bytes.NewReader(data), int64(size)); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						rc, err := s.Get(ctx, k, 0, -1)
						if err != nil {
							b.Error(err)
							return
						}
						n, err := io.Copy(io.Discard, rc)
						_ = rc.Close()
						if err != nil || n != int64(size) {
							b.Errorf("get %s: %d bytes, %v", k, n, err)
							return
						}
					}
				})
			})
		}
	}
}
