package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the scan workers of one process (shared by all of them).
type metrics struct {
	verdicts   *prometheus.CounterVec
	latency    prometheus.Histogram
	toVerdict  prometheus.Histogram
	queueDepth prometheus.Gauge
	clamdUp    prometheus.Gauge
	failures   prometheus.Counter
	retries    *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	moved      prometheus.Counter
	reported   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_scan_verdicts_total",
			Help: "Verdicts stored on media records, by result (clean, infected, unscannable, failed) and source (scan, reused, policy).",
		}, []string{"result", "source"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediarepo_scan_duration_seconds",
			Help:    "Time of one scan: archive inspection plus the engine's INSTREAM, reading and unsealing the blob included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
		}),
		toVerdict: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediarepo_scan_time_to_verdict_seconds",
			Help:    "Time from the media becoming pending (upload or rescan) to its stored verdict: queueing, scanning and writing.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16), // 10 ms .. 5.5 min
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediarepo_scan_queue_depth",
			Help: "Scan jobs waiting in the queue (sampled).",
		}),
		clamdUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediarepo_clamd_up",
			Help: "1 when clamd answered the last PING, 0 otherwise.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediarepo_scan_failures_total",
			Help: "Jobs that failed on their last delivery: the media was blocked as scan failed. Alert on any increase.",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_scan_retries_total",
			Help: "Jobs handed back to the queue with a delay after a transient error, by cause (engine, storage, catalog, other).",
		}, []string{"cause"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_scan_jobs_dropped_total",
			Help: "Jobs acknowledged without a verdict, by reason (gone: no record; decided: no longer pending; stale: decided during the scan).",
		}, []string{"reason"}),
		reported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_scan_reports_total",
			Help: "Verdicts that are not clean put into the infection-report outbox, by result.",
		}, []string{"result"}),
		moved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediarepo_scan_quarantine_moves_total",
			Help: "Infected blobs moved to the quarantine prefix.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.verdicts, m.latency, m.toVerdict, m.queueDepth, m.clamdUp, m.failures, m.retries, m.dropped, m.moved, m.reported} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("worker: register metrics: %w", err)
		}
	}
	return m, nil
}
