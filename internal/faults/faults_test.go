package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	power bool          // a power loss of the NATS servers (name nats-all)
	at    float64       // share of the load's duration
	down  time.Duration // how long it stays dead
	start time.Time     // when it was killed
	end   time.Time     // when it answered again
}

// faultPlan returns the kills of run n (counted from 1 across every
// batch of the long form): one NATS server, one API replica, one
// scanworker (scanning: the load keeps both busy), clamd, and PostgreSQL
// once. Each run draws its own moments (within a window around the
// kill's slot, so kills never overlap) and its own downtimes from n, so
// that 20 runs kill at 20 different moments; the plan of run n is the
// same every time, so a failing run can be repeated.
func faultPlan(n int) []*fault {
	rng := rand.New(rand.NewPCG(uint64(n), 0x5eed))
	plan := []*fault{
		{name: "nats-2", at: 0.05, down: 3 * time.Second},
		{name: "mediarepo-1", at: 0.22, down: time.Second},
		{name: "scanworker-1", at: 0.39, down: time.Second},
		{name: "clamd", at: 0.56, down: 2 * time.Second},
		{name: "postgres", at: 0.73, down: 2 * time.Second},
	}
	if n == 1 {
		return plan // the first run (make test's) keeps the middle of each slot
	}
	for _, f := range plan {
		f.at += 0.12 * rng.Float64()                                // anywhere in the slot's first 12 %
		f.down += time.Duration(rng.Int64N(int64(3 * time.Second))) // 0–3 s longer
	}
	// Kill the NATS server the run's number names, so that the stream
	// leaders' server is killed in some runs and a follower in others.
	plan[0].name = fmt.Sprintf("nats-%d", 1+n%3)
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
		if f.power {
			powerLoss(c, f.down)
		} else {
			c.Kill(f.name)
			time.Sleep(f.down)
			c.Start(f.name)
		}
		f.end = time.Now()
		t.Logf("%s killed at %s, back after %s", f.name, f.start.Sub(began).Round(time.Millisecond), f.end.Sub(f.start).Round(time.Millisecond))
	}
	wg.Wait()
	return checkInvariants(t, c, l, plan, began)
}

// poweredByNATSHosts are the processes that lose power with the NATS
// servers in powerLoss: the API replicas and the scanworkers (PostgreSQL,
// MinIO, clamd and the proxy run elsewhere).
var poweredByNATSHosts = []string{"mediarepo-1", "mediarepo-2", "scanworker-1", "scanworker-2"}

// powerLoss cuts the power of the hosts that run NATS, the replicas and
// the scanworkers: every one SIGKILLed, the NATS servers' unsynced writes
// dropped (lazyfs), and after down everything started again, NATS first.
// The replicas and workers must start again: they create the streams and
// consumers at start, and a power loss under the NATS default may take the
// streams themselves (a running replica does not create them again).
func powerLoss(c *cluster, down time.Duration) {
	for _, name := range poweredByNATSHosts {
		c.Kill(name)
	}
	c.PowerLoss()
	time.Sleep(down)
	c.Start("nats-all")
	for _, name := range poweredByNATSHosts {
		c.Start(name)
	}
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

// envCount reads a positive count from the environment, def when unset.
func envCount(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s: %q, want a positive count", name, v)
	}
	return n
}

// TestFaults is the short form that `make test` runs: one run of 60 s of
// load with every kill, on a cluster with sync_interval always.
// `make test-faults` sets MEDIAREPO_FAULTS_RUNS and
// MEDIAREPO_FAULTS_DURATION for the long form; MEDIAREPO_FAULTS_FIRST_RUN
// numbers the first run of a batch (a series split into batches draws
// other kill moments in each).
func TestFaults(t *testing.T) {
	runs := envCount(t, "MEDIAREPO_FAULTS_RUNS", 1)
	d := faultDuration(t, 60*time.Second)
	first := envCount(t, "MEDIAREPO_FAULTS_FIRST_RUN", 1)
	c := startCluster(t, "always")
	var results []runResult
	for i := first; i < first+runs; i++ {
		r := runFaults(t, c, d, faultPlan(i))
		r.run = i
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
