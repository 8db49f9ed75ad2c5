package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/scan/icap"
)

// NewEngines builds the configured scan engines (scan.engines, or
// scan.clamd as a one-engine list) under scan.policy. It does not connect.
// This is the one place that branches on an engine's kind.
func NewEngines(cfg config.Scan) (*scan.Engines, error) {
	var list []scan.Engine
	for _, e := range cfg.EngineList() {
		var s scan.Scanner
		var err error
		switch e.Kind {
		case "clamd":
			s, err = clamd.New(clamd.Config{Address: e.Address})
		case "icap":
			s, err = icap.New(icap.Config{URL: e.Address, Method: icap.Method(e.Method), Preview: e.Preview,
				InfectionHeaders: e.InfectionHeaders, MaxSize: int64(e.MaxSize), MaxConnections: e.MaxConnections})
		default:
			err = fmt.Errorf("kind %q is neither clamd nor icap", e.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("scan engine %s: %w", e.Name, err)
		}
		list = append(list, scan.Engine{Name: e.Name, Scanner: s})
	}
	return scan.NewEngines(scan.Policy(cfg.Policy), list...)
}

// AddEngineChecks registers, for every engine, a readiness check of its
// health ("engine <name>") and one of its signatures' age ("engine <name>
// signatures"), and returns the watcher that refreshes the gauges.
func AddEngineChecks(h *Health, engines *scan.Engines, maxAge time.Duration, allowUnknown bool, reg prometheus.Registerer) *Signatures {
	sigs := NewSignatures(engines, maxAge, allowUnknown, reg)
	for _, e := range engines.List() {
		h.Add("engine "+e.Name, e.Scanner.Ping)
		h.Add("engine "+e.Name+" signatures", func(ctx context.Context) error { return sigs.check(ctx, e) })
	}
	return sigs
}

// Signatures watches every engine's health and how old its signatures are
// (BSI OPS.1.1.4 wants them current): gauges per engine, and a readiness
// check per engine that fails when its signatures are older than maxAge
// — or when their age is unknown outside the embedded default (the
// project's test signatures carry no date).
//
// An engine that reports a signature date (clamd) is judged by it; one
// that reports only a version (ICAP's ISTag) by the time since this
// process first saw that version, a lower bound of the real age that
// still shows an engine whose signatures stopped changing.
type Signatures struct {
	engines   *scan.Engines
	maxAge    time.Duration
	allowNone bool
	age       *prometheus.GaugeVec
	up        *prometheus.GaugeVec
	oldest    prometheus.Gauge
	now       func() time.Time

	mu   sync.Mutex
	seen map[string]seenVersion // engine name → its current signature version
	ages map[string]float64
}

type seenVersion struct {
	version string
	since   time.Time
}

// NewSignatures registers mediarepo_engine_up{engine},
// mediarepo_engine_signature_age_seconds{engine} and
// mediarepo_clamd_signature_age_seconds (the oldest engine's; -1 while
// unknown).
func NewSignatures(engines *scan.Engines, maxAge time.Duration, allowUnknown bool, reg prometheus.Registerer) *Signatures {
	s := &Signatures{engines: engines, maxAge: maxAge, allowNone: allowUnknown, now: time.Now,
		seen: map[string]seenVersion{}, ages: map[string]float64{},
		age: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediarepo_engine_signature_age_seconds",
			Help: "Age of each scan engine's signatures (-1: unknown); for engines without a date, the time since its signature version (ICAP ISTag) was first seen.",
		}, []string{"engine"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediarepo_engine_up",
			Help: "1 when the scan engine answered its last version check, 0 otherwise.",
		}, []string{"engine"}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediarepo_clamd_signature_age_seconds",
			Help: "Age of the oldest engine's signatures (-1: unknown, e.g. an undated test database).",
		})}
	s.oldest.Set(-1)
	for _, e := range engines.List() {
		s.age.WithLabelValues(e.Name).Set(-1)
		s.up.WithLabelValues(e.Name).Set(0)
		s.ages[e.Name] = -1
	}
	reg.MustRegister(s.age, s.up, s.oldest)
	return s
}

// Check judges every engine (the first failure is returned).
func (s *Signatures) Check(ctx context.Context) error {
	var first error
	for _, e := range s.engines.List() {
		if err := s.check(ctx, e); err != nil && first == nil {
			first = fmt.Errorf("engine %s: %w", e.Name, err)
		}
	}
	return first
}

// check asks one engine for its version, updates its gauges and judges
// the age.
func (s *Signatures) check(ctx context.Context, e scan.Engine) error {
	v, err := e.Scanner.Version(ctx)
	if err != nil {
		s.up.WithLabelValues(e.Name).Set(0)
		return err
	}
	s.up.WithLabelValues(e.Name).Set(1)
	now := s.now()
	var age time.Duration
	known := true
	s.mu.Lock()
	switch {
	case !v.SignatureDate.IsZero():
		age = now.Sub(v.SignatureDate)
	case v.SignatureVersion != "":
		sv := s.seen[e.Name]
		if sv.version != v.SignatureVersion {
			sv = seenVersion{version: v.SignatureVersion, since: now}
			s.seen[e.Name] = sv
		}
		age = now.Sub(sv.since)
	default:
		known = false
	}
	s.ages[e.Name] = -1
	if known {
		s.ages[e.Name] = age.Seconds()
	}
	oldest := -1.0
	for _, a := range s.ages {
		oldest = max(oldest, a)
	}
	s.mu.Unlock()
	s.oldest.Set(oldest)
	if !known {
		s.age.WithLabelValues(e.Name).Set(-1)
		if s.allowNone {
			return nil
		}
		return fmt.Errorf("%s reports no signature date or version (an undated test database?)", v)
	}
	s.age.WithLabelValues(e.Name).Set(age.Seconds())
	if age > s.maxAge {
		return fmt.Errorf("signatures %s are %s old (maximum %s): are they being updated (freshclam)?", v, age.Round(time.Minute), s.maxAge)
	}
	return nil
}

// Run refreshes the gauges every interval until ctx ends.
func (s *Signatures) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = s.Check(ctx) // the gauges are the product here; /readyz reports the errors
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
