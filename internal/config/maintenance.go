package config

import (
	"fmt"
	"time"
)

// Maintenance configures the reconciler that runs under the leader lease
// (internal/worker/reconcile.go): expiry of reservations, re-enqueueing of
// stuck scans, collection of crashed uploads, remote-media retention.
type Maintenance struct {
	// Interval between two passes (1m).
	Interval Duration `yaml:"interval"`
	// OrphanGrace is how old an upload intent must be before the upload is
	// taken for crashed and its blob collected (1h). Uploads in flight
	// write the blob before the record: keep it well above the longest
	// upload.
	OrphanGrace Duration `yaml:"orphan_grace"`
	// StuckAfter is how long media may stay pending before its scan job is
	// published again (10m).
	StuckAfter Duration `yaml:"stuck_after"`
}

func defaultMaintenance() Maintenance {
	return Maintenance{Interval: Duration(time.Minute), OrphanGrace: Duration(time.Hour), StuckAfter: Duration(10 * time.Minute)}
}

// validate reports the maintenance section's problems.
func (m Maintenance) validate() []error {
	var errs []error
	if m.Interval < Duration(time.Second) {
		errs = append(errs, fmt.Errorf("maintenance.interval: %s is under 1s", m.Interval.D()))
	}
	if m.OrphanGrace < Duration(10*time.Second) {
		errs = append(errs, fmt.Errorf("maintenance.orphan_grace: %s is under 10s (uploads in flight would lose their blobs)", m.OrphanGrace.D()))
	}
	if m.StuckAfter < Duration(10*time.Second) {
		errs = append(errs, fmt.Errorf("maintenance.stuck_after: %s is under 10s", m.StuckAfter.D()))
	}
	return errs
}
