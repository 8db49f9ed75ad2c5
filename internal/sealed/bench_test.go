package sealed_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
)

var benchSizes = []int{64 << 10, 1 << 20, 16 << 20}

// BenchmarkPut compares a raw filesystem put with a sealed one.
func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		data := randomBytes(b, size)
		for _, mode := range []string{"raw", "sealed"} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				s := benchStore(b, mode)
				b.SetBytes(int64(size))
				for i := 0; b.Loop(); i++ {
					key := fmt.Sprintf("k%d", i%8)
					if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(size)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGet compares raw and sealed whole-blob reads, and a sealed
// 4 KiB range from the middle (the video-seek case).
func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		data := randomBytes(b, size)
		for _, mode := range []string{"raw", "sealed"} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				s := benchStore(b, mode)
				put(b, s, "blob", data)
				b.SetBytes(int64(size))
				for b.Loop() {
					readAll(b, s, 0, -1)
				}
			})
		}
		b.Run(fmt.Sprintf("sealed-range4KiB/%dKiB", size>>10), func(b *testing.B) {
			s := benchStore(b, "sealed")
			put(b, s, "blob", data)
			b.SetBytes(4096)
			for b.Loop() {
				readAll(b, s, int64(size/2), 4096)
			}
		})
	}
}

func benchStore(b *testing.B, mode string) storage.Store {
	if mode == "raw" {
		return newFS(b)
	}
	return sealed.New(newFS(b), keyring(b, "k1"))
}

func readAll(b *testing.B, s storage.Store, off, length int64) {
	rc, err := s.Get(context.Background(), "blob", off, length)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		b.Fatal(err)
	}
	_ = rc.Close()
}
