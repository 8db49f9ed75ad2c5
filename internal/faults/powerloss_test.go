package faults_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAllNATSKilled measures the durability trade-off of `make
// test-faults`: under load, the three NATS servers lose power at once —
// SIGKILL, and every write they had not fsynced is dropped by lazyfs
// (internal/faults/lazyfs) — and are started again; then the invariants
// are checked. It runs with sync_interval always and with the NATS
// default (2 minutes), MEDIAREPO_FAULTS_POWERLOSS_RUNS runs each (2)
// (MEDIAREPO_FAULTS_POWERLOSS_SYNC: a comma list of the settings;
// MEDIAREPO_FAULTS_POWERLOSS_AGE: how long the cluster runs first), on
// the PostgreSQL catalog (MEDIAREPO_CLUSTER_CATALOG chooses). Besides the
// uploads, a probe publishes numbered messages to a stream of its own
// (R3, file storage) and counts the acknowledged ones that are gone after
// the power loss: JetStream's own loss, which with the KV catalog would be
// records. It runs only in the long form (MEDIAREPO_FAULTS_RUNS set):
// every run brings a cluster up.
func TestAllNATSKilled(t *testing.T) {
	if os.Getenv("MEDIAREPO_FAULTS_RUNS") == "" {
		t.Log("the long form only (make test-faults)")
		return
	}
	d := faultDuration(t, 60*time.Second)
	runs := envCount(t, "MEDIAREPO_FAULTS_POWERLOSS_RUNS", 2)
	// A fresh cluster has fsynced nothing under the NATS default (its
	// first periodic sync comes 2 minutes after start): an age past that
	// shows the loss of a cluster that had been running.
	var age time.Duration
	if v := os.Getenv("MEDIAREPO_FAULTS_POWERLOSS_AGE"); v != "" {
		var err error
		if age, err = time.ParseDuration(v); err != nil {
			t.Fatalf("MEDIAREPO_FAULTS_POWERLOSS_AGE: %v", err)
		}
	}
	syncs := []string{"always", "default"}
	if v := os.Getenv("MEDIAREPO_FAULTS_POWERLOSS_SYNC"); v != "" {
		syncs = strings.Split(v, ",")
	}
	var results []runResult
	for _, sync := range syncs {
		for i := 1; i <= runs; i++ {
			t.Run(fmt.Sprintf("sync_%s/%d", sync, i), func(t *testing.T) {
				// Each run keeps its own state and logs (.cluster/power-…).
				dir, err := filepath.Abs(filepath.Join("..", "..", ".cluster", fmt.Sprintf("power-%s-%d-%s", sync, i, age)))
				if err != nil {
					t.Fatal(err)
				}
				c := startCluster(t, sync, "MEDIAREPO_CLUSTER_LAZYFS=1", "MEDIAREPO_CLUSTER_DIR="+dir)
				p := startProbe(t, c.Var("MEDIAREPO_CLUSTER_NATS"))
				if age > 0 {
					t.Logf("the cluster runs %s (the probe publishing) before the load", age)
					time.Sleep(age)
				}
				// The power loss falls anywhere in the middle half of the load.
				at := 0.25 + 0.5*rand.New(rand.NewPCG(uint64(i), uint64(len(sync)))).Float64()
				plan := []*fault{{name: "nats-all", power: true, at: at, down: 2 * time.Second}}
				r := runFaults(t, c, d, plan)
				r.run, r.sync, r.age = i, sync, age
				r.probeAcked, r.probeLost = p.check(t)
				r.requeued = requeued(c, r.ackedIDs)
				t.Logf("sync_interval %s, run %d: probe %d acknowledged, %d lost; %d acknowledged uploads' scan jobs published again by the reconciler",
					sync, i, r.probeAcked, r.probeLost, r.requeued)
				results = append(results, r)
			})
		}
	}
	t.Log("\n" + powerTable(results))
}

// probe publishes numbered messages to its own R3 stream until check.
type probe struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	acked []probeAck
	sent  atomic.Int64
}

// probeAck is one acknowledged probe message: its number and the stream
// sequence the cluster gave it.
type probeAck struct{ n, seq uint64 }

const probeStream = "FAULTS_PROBE"

func startProbe(t *testing.T, urls string) *probe {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: probeStream, Subjects: []string{"faults.probe"},
		Storage: jetstream.FileStorage, Replicas: 3}); err != nil {
		t.Fatalf("probe stream: %v", err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	p := &probe{js: js, nc: nc, cancel: pcancel, done: make(chan struct{})}
	go p.run(pctx)
	return p
}

func (p *probe) run(ctx context.Context) {
	defer close(p.done)
	for ctx.Err() == nil {
		n := p.sent.Add(1)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := p.js.Publish(pctx, "faults.probe", []byte(strconv.FormatInt(n, 10)))
		cancel()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		p.acked = append(p.acked, probeAck{n: uint64(n), seq: ack.Sequence})
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// check stops the probe and counts the acknowledged messages the stream
// no longer has (all of them when the stream itself is gone).
func (p *probe) check(t *testing.T) (acked, lost int) {
	t.Helper()
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p.mu.Lock()
	acks := append([]probeAck(nil), p.acked...)
	p.mu.Unlock()
	var s jetstream.Stream
	var err error
	for range 30 {
		if s, err = p.js.Stream(ctx, probeStream); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Logf("probe stream after the power loss: %v (counted as all lost)", err)
		return len(acks), len(acks)
	}
	// A lost message's sequence may have been given to a later one: the
	// number must match too.
	for _, a := range acks {
		m, err := s.GetMsg(ctx, a.seq)
		switch {
		case err == nil && string(m.Data) == strconv.FormatUint(a.n, 10):
		case err == nil || errors.Is(err, jetstream.ErrMsgNotFound):
			lost++
		default:
			t.Errorf("probe message %d: %v", a.seq, err)
		}
	}
	return len(acks), lost
}

// requeued counts the acknowledged uploads whose scan job the reconciler
// had to publish again (a job lost, or one stuck longer than
// maintenance.stuck_after), from the scanworkers' logs.
func requeued(c *cluster, ids map[string]bool) int {
	n := 0
	for _, w := range []string{"scanworker-1", "scanworker-2"} {
		for _, line := range strings.Split(c.Log(w), "\n") {
			if !strings.Contains(line, "scan job published again") {
				continue
			}
			_, rest, ok := strings.Cut(line, "mxc://localhost/")
			if !ok {
				continue
			}
			id, _, _ := strings.Cut(rest, "\"")
			if ids[id] {
				n++
			}
		}
	}
	return n
}

// powerTable prints the figures of the power-loss runs.
func powerTable(rs []runResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| sync_interval | cluster age before the load | run | uploads acknowledged | lost | jobs published again | probe acknowledged | probe lost | verdict p50 / p99 outside / during the fault |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %s / %s, %s / %s |\n", r.sync, r.age, r.run, r.acked, r.lost, r.requeued,
			r.probeAcked, r.probeLost, ms(r.outside.p50), ms(r.outside.p99), ms(r.during.p50), ms(r.during.p99))
	}
	return b.String()
}
