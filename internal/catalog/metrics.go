package catalog

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the metrics every catalog backend exports under the same
// names, so that dashboards and alert rules do not depend on the backend.
type Metrics struct {
	// Errors counts failed operations by op (mediarepo_catalog_errors_total).
	Errors *prometheus.CounterVec
	// Conflicts counts lost compare-and-sets by kind
	// (mediarepo_catalog_cas_conflicts_total).
	Conflicts *prometheus.CounterVec
	// Waiters is the number of requests waiting for a record to change.
	Waiters prometheus.Gauge
	// WatchStarts counts starts of the process-wide change feed.
	WatchStarts prometheus.Counter
}

// NewMetrics creates the shared metrics, watchHelp describing the
// backend's change feed, and registers them and extra (the backend's own)
// on reg; a nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer, watchHelp string, extra ...prometheus.Collector) (Metrics, error) {
	m := Metrics{
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_catalog_errors_total",
			Help: "Catalog operations that failed for another reason than not-found, exists or a lost compare-and-set, by operation.",
		}, []string{"op"}),
		Conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_catalog_cas_conflicts_total",
			Help: "Compare-and-set writes that lost against a concurrent writer, by kind (record, blob).",
		}, []string{"kind"}),
		Waiters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediarepo_catalog_waiters",
			Help: "Requests currently waiting for a record to change.",
		}),
		WatchStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediarepo_catalog_watch_starts_total",
			Help: watchHelp,
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range append([]prometheus.Collector{m.Errors, m.Conflicts, m.Waiters, m.WatchStarts}, extra...) {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("catalog: register metrics: %w", err)
		}
	}
	return m, nil
}
