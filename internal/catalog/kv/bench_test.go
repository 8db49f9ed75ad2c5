package kv

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/testenv"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// BenchmarkCreate measures the upload path's catalog write (three index
// entries, then the record) on an embedded server with default fsync.
func BenchmarkCreate(b *testing.B) {
	c := benchKV(b)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("b%d", n.Add(1))
			if _, err := c.Create(b.Context(), pending("example.org", id, "@alice:example.org", shaA)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkApplyVerdict measures a worker's verdict write (read, CAS,
// state index move).
func BenchmarkApplyVerdict(b *testing.B) {
	c := benchKV(b)
	for i := range b.N {
		if _, err := c.Create(b.Context(), pending("example.org", fmt.Sprintf("v%d", i), "@alice:example.org", shaA)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("v%d", n.Add(1)-1)
			if _, _, err := catalog.Apply(b.Context(), c, "example.org", id, cleanVerdict()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchKV(b *testing.B) *Catalog {
	nc, err := nats.Connect(testenv.NATSURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(b.Context(), js, Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}
