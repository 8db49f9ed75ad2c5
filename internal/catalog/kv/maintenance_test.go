package kv

import (
	"testing"
	"time"
)

// TestRepairAfterCrash: a process that ended without closing its catalog
// leaves its marker; the next RepairAfterCrash reindexes once.
func TestRepairAfterCrash(t *testing.T) {
	ctx := t.Context()
	js := startJetStream(t)
	c, err := New(ctx, js, Options{CrashAfter: time.Nanosecond}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Create(ctx, pending("example.org", "m", "@alice:example.org", shaA)); err != nil {
		t.Fatal(err)
	}
	if _, ran, err := c.RepairAfterCrash(ctx); err != nil || ran {
		t.Fatalf("without a crash: ran %v, %v", ran, err)
	}
	closed, err := New(ctx, js, Options{}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ran, err := c.RepairAfterCrash(ctx); err != nil || ran {
		t.Fatalf("after a clean close: ran %v, %v", ran, err)
	}
	// A process that crashed: its marker stays.
	crashed, err := New(ctx, js, Options{}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	crashed.hub.close()
	crashed.stopMarker = nil
	st, ran, err := c.RepairAfterCrash(ctx)
	if err != nil || !ran || st.Records != 1 {
		t.Fatalf("after a crash: %+v, ran %v, %v; want a reindex of 1 record", st, ran, err)
	}
	if _, ran, err := c.RepairAfterCrash(ctx); err != nil || ran {
		t.Fatalf("the crash is repaired once: ran %v, %v", ran, err)
	}
}
