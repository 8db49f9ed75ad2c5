package storage

import (
	"context"
	"errors"
	"io"

	"github.com/prometheus/client_golang/prometheus"
)

// Instrumented is a Store that counts its operations and their failures
// (a missing blob is not a failure). It is the one metrics layer above
// every backend.
type Instrumented struct {
	Store
	ops    *prometheus.CounterVec
	errors *prometheus.CounterVec
}

// Instrument wraps s; the metrics go to reg.
func Instrument(s Store, reg prometheus.Registerer) *Instrumented {
	i := &Instrumented{Store: s,
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_store_operations_total", Help: "Blob store operations by kind.",
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_store_errors_total", Help: "Blob store operations that failed (not counting missing blobs), by kind.",
		}, []string{"op"}),
	}
	reg.MustRegister(i.ops, i.errors)
	return i
}

func (i *Instrumented) count(op string, err error) error {
	i.ops.WithLabelValues(op).Inc()
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, context.Canceled) {
		i.errors.WithLabelValues(op).Inc()
	}
	return err
}

// Put implements Store.
func (i *Instrumented) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return i.count("put", i.Store.Put(ctx, key, r, size))
}

// Get implements Store.
func (i *Instrumented) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := i.Store.Get(ctx, key, offset, length)
	return rc, i.count("get", err)
}

// Stat implements Store.
func (i *Instrumented) Stat(ctx context.Context, key string) (Info, error) {
	info, err := i.Store.Stat(ctx, key)
	return info, i.count("stat", err)
}

// Delete implements Store.
func (i *Instrumented) Delete(ctx context.Context, key string) error {
	return i.count("delete", i.Store.Delete(ctx, key))
}

// List implements Store.
func (i *Instrumented) List(ctx context.Context, prefix string, fn func(Info) error) error {
	return i.count("list", i.Store.List(ctx, prefix, fn))
}

// Errors is the failure counter (for tests and dashboards' labels).
func (i *Instrumented) Errors() *prometheus.CounterVec { return i.errors }
