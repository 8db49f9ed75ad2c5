package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// Health holds a process's readiness checks (/readyz).
type Health struct {
	mu     sync.Mutex
	checks map[string]func(context.Context) error
}

// NewHealth returns an empty set of checks.
func NewHealth() *Health { return &Health{checks: map[string]func(context.Context) error{}} }

// Add registers a named check; nil from it means ready.
func (h *Health) Add(name string, check func(context.Context) error) {
	h.mu.Lock()
	h.checks[name] = check
	h.mu.Unlock()
}

// Check runs every check (bounded by ctx) and reports each result in name
// order; ok is false when one failed.
func (h *Health) Check(ctx context.Context) (report string, ok bool) {
	h.mu.Lock()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range h.checks {
			if !yield(n) {
				return
			}
		}
	})
	checks := make([]func(context.Context) error, len(names))
	for i, n := range names {
		checks[i] = h.checks[n]
	}
	h.mu.Unlock()
	ok = true
	for i, n := range names {
		if err := checks[i](ctx); err != nil {
			ok = false
			report += fmt.Sprintf("%s: %v\n", n, err)
		} else {
			report += n + ": ok\n"
		}
	}
	return report, ok
}

// AdminMux serves /metrics, /healthz (the process runs) and /readyz
// (every check passes; 503 otherwise, with the report) on an admin
// listener, for mediarepo and scanworker alike.
func AdminMux(reg *prometheus.Registry, h *Health) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		report, ok := h.Check(ctx)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte(report))
	})
	return mux
}

// StoreCheck is ready when the blob store answers (a missing probe key is
// an answer).
func StoreCheck(s storage.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := s.Stat(ctx, "health/probe")
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
}

// NATSCheck is ready while the connection is up.
func NATSCheck(n *NATS) func(context.Context) error {
	return func(context.Context) error {
		if !n.Conn.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}
}
