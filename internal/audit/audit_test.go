package audit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// startJetStream is testenv.JetStream: a real embedded NATS server.
func startJetStream(t *testing.T) jetstream.JetStream { return testenv.JetStream(t) }

func TestAppendAndList(t *testing.T) {
	ctx := context.Background()
	log, err := Open(ctx, startJetStream(t), Options{MaxScan: 100})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		actor := "@alice:example.org"
		if i%2 == 1 {
			actor = "@bob:example.org"
		}
		e, err := log.Append(ctx, Entry{At: t0.Add(time.Duration(i) * time.Minute), Actor: actor, Action: "release",
			Target: fmt.Sprintf("mxc://example.org/m%d", i), Reason: "false positive", From: "quarantined", To: "clean", Outcome: OutcomeChanged})
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", e.Seq, i+1)
		}
	}
	if _, err := log.Append(ctx, Entry{Actor: "@alice:example.org", Action: "delete"}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("entry without target: %v", err)
	}

	p, err := log.List(ctx, Filter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 3 || p.Entries[0].Target != "mxc://example.org/m9" || p.Next != 8 {
		t.Fatalf("first page: %+v", p)
	}
	p, err = log.List(ctx, Filter{Limit: 3, Before: p.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 3 || p.Entries[0].Target != "mxc://example.org/m6" {
		t.Fatalf("second page: %+v", p)
	}

	p, err = log.List(ctx, Filter{Actor: "@bob:example.org", Since: t0.Add(4 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.Entries {
		got = append(got, e.Target)
	}
	if fmt.Sprint(got) != "[mxc://example.org/m9 mxc://example.org/m7 mxc://example.org/m5]" || p.Next != 0 {
		t.Fatalf("bob since 10:04: %v (next %d)", got, p.Next)
	}
	p, err = log.List(ctx, Filter{Target: "m3"})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Reason != "false positive" || p.Entries[0].From != "quarantined" {
		t.Fatalf("target m3: %+v %v", p, err)
	}
	p, err = log.List(ctx, Filter{Action: "delete"})
	if err != nil || len(p.Entries) != 0 {
		t.Fatalf("no deletes: %+v %v", p, err)
	}
}

// TestEntriesCannotBeRemoved checks that the API refuses to delete or purge
// entries and to lift those refusals on the stream.
func TestEntriesCannotBeRemoved(t *testing.T) {
	ctx := context.Background()
	js := startJetStream(t)
	log, err := Open(ctx, js, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := log.Append(ctx, Entry{Actor: "@alice:example.org", Action: "delete", Target: "mxc://example.org/x", Reason: "malware"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(ctx, e.Seq); err == nil {
		t.Fatal("DeleteMsg succeeded on the audit stream")
	}
	if err := st.SecureDeleteMsg(ctx, e.Seq); err == nil {
		t.Fatal("SecureDeleteMsg succeeded on the audit stream")
	}
	if err := st.Purge(ctx); err == nil {
		t.Fatal("Purge succeeded on the audit stream")
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(DefaultSubject+".delete")); err == nil {
		t.Fatal("subject purge succeeded on the audit stream")
	}
	cfg := st.CachedInfo().Config
	cfg.DenyDelete, cfg.DenyPurge = false, false
	if _, err := js.UpdateStream(ctx, cfg); err == nil {
		t.Fatal("the stream's deny flags could be lifted")
	}
	cfg = st.CachedInfo().Config
	cfg.MaxMsgs = 1
	cfg.Discard = jetstream.DiscardOld
	if _, err := js.UpdateStream(ctx, cfg); err == nil {
		// A limit would push entries out; Open puts the stream back to
		// keeping everything.
		if _, err := Open(ctx, js, Options{}); err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil || info.Config.MaxMsgs > 0 || info.Config.Discard != jetstream.DiscardNew {
			t.Fatalf("limit kept after Open: %+v %v", info.Config, err)
		}
	}
	p, err := log.List(ctx, Filter{})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Reason != "malware" {
		t.Fatalf("entry gone: %+v %v", p, err)
	}
	// Reopening keeps the entries and the protections.
	if _, err := Open(ctx, js, Options{}); err != nil {
		t.Fatal(err)
	}
}
