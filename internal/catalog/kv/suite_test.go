package kv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/catalogtest"
)

// TestConformance runs the catalog suite against KV on an embedded NATS
// server.
func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		c, err := New(t.Context(), startJetStream(t), Options{IndexGrace: 1}, testLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}
