package faults_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fault is one kill and restart during the load.
type fault struct {
	name  string        // process of scripts/cluster
	at    float64       // share of the load's duration
	down  time.Duration // how long it stays dead
	start time.Time     // when it was killed
	end   time.Time     // when it answered again
}

// faultPlan returns the kills of one run: one NATS server, one API replica,
// one scanworker (scanning: the load keeps both busy), clamd, and
// PostgreSQL once. shift moves them so that repeated runs kill at other
// moments.
func faultPlan(shift float64) []*fault {
	plan := []*fault{
		{name: "nats-2", at: 0.10, down: 5 * time.Second},
		{name: "mediarepo-1", at: 0.25, down: 2 * time.Second},
		{name: "scanworker-1", at: 0.40, down: 2 * time.Second},
		{name: "clamd", at: 0.55, down: 4 * time.Second},
		{name: "postgres", at: 0.70, down: 3 * time.Second},
	}
	for _, f := range plan {
		f.at += shift
	}
	return plan
}

// runFaults runs the load for d with the plan's kills, then checks the
// invariants and returns the run's figures.
func runFaults(t *testing.T, c *cluster, d time.Duration, plan []*fault) runResult {
	l := newLoad(c.Var("MEDIAREPO_CLUSTER_PROXY"))
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.run(ctx, 6, 4, 0.2)
	}()
	for _, f := range plan {
		wait := time.Until(began.Add(time.Duration(f.at * float64(d))))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		f.start = time.Now()
		c.Kill(f.name)
		time.Sleep(f.down)
		c.Start(f.name)
		f.end = time.Now()
		t.Logf("%s killed at %s, back after %s", f.name, f.start.Sub(began).Round(time.Millisecond), f.end.Sub(f.start).Round(time.Millisecond))
	}
	wg.Wait()
	return checkInvariants(t, c, l, plan, began)
}

// faultDuration reads MEDIAREPO_FAULTS_DURATION (a Go duration), def when unset.
func faultDuration(t *testing.T, def time.Duration) time.Duration {
	if v := os.Getenv("MEDIAREPO_FAULTS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("MEDIAREPO_FAULTS_DURATION: %v", err)
		}
		return d
	}
	return def
}

// TestFaults is the short form that `make test` runs: one run of 60 s of
// load with every kill, on a cluster with sync_interval always.
// `make test-faults` sets MEDIAREPO_FAULTS_RUNS and
// MEDIAREPO_FAULTS_DURATION for the long form.
func TestFaults(t *testing.T) {
	runs := 1
	if v := os.Getenv("MEDIAREPO_FAULTS_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MEDIAREPO_FAULTS_RUNS: %q", v)
		}
		runs = n
	}
	d := faultDuration(t, 60*time.Second)
	c := startCluster(t, "always")
	var results []runResult
	for i := range runs {
		shift := 0.15 * float64(i%3) / 2 // kills move by up to 15 % of the run
		r := runFaults(t, c, d, faultPlan(shift))
		r.run = i + 1
		results = append(results, r)
		if t.Failed() {
			break
		}
	}
	t.Log("\n" + table(results))
	if !t.Failed() {
		checkSplitBrain(t, c)
	}
}

// table prints the figures of the runs.
func table(rs []runResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| run | uploads acknowledged | lost | infected bytes served | verdict p50 / p99 outside faults | during faults | answers by status |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		keys := make([]string, 0, len(r.statuses))
		for k := range r.statuses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var st []string
		for _, k := range keys {
			st = append(st, fmt.Sprintf("%s: %d", k, r.statuses[k]))
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %d | %s / %s | %s / %s | %s |\n", r.run, r.acked, r.lost, r.infectious,
			ms(r.outside.p50), ms(r.outside.p99), ms(r.during.p50), ms(r.during.p99), strings.Join(st, ", "))
	}
	return b.String()
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }

// TestAllNATSKilled measures the durability trade-off of `make
// test-faults`: under load, all three NATS servers are killed at once and
// restarted, once with sync_interval always and once with the NATS default
// (2 minutes), and the invariants are checked after each. It runs only in
// the long form (MEDIAREPO_FAULTS_RUNS set), since it brings up two more
// clusters.
func TestAllNATSKilled(t *testing.T) {
	if os.Getenv("MEDIAREPO_FAULTS_RUNS") == "" {
		t.Log("the long form only (make test-faults)")
		return
	}
	d := faultDuration(t, 60*time.Second)
	var results []runResult
	for i, sync := range []string{"always", "default"} {
		t.Run("sync_"+sync, func(t *testing.T) {
			c := startCluster(t, sync)
			plan := []*fault{{name: "nats-all", at: 0.5, down: 3 * time.Second}}
			r := runFaults(t, c, d, plan)
			r.run = i + 1
			results = append(results, r)
		})
	}
	t.Log("\nrun 1: sync_interval always; run 2: the NATS default\n" + table(results))
}
