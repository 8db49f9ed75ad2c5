package media

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	t0        = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	testSHA   = strings.Repeat("ab", 32)
	testActor = "@officer:example.org"
)

// recordIn returns a record in state s, as the state machine would have
// produced it (content for stored states, expiry for reservations).
func recordIn(s State) Record {
	r := NewReserved("example.org", "abcDEF123", "@alice:example.org", t0, t0.Add(time.Hour))
	r.State = s
	if s != StateReserved && s != StateExpired {
		r.Content = Content{DeclaredType: "image/png", Size: 10, SHA256: testSHA, BlobKey: "blobs/ab/" + testSHA}
		r.UploadedAt = t0
		r.ExpiresAt = time.Time{}
	}
	return r
}

// validChange returns a change for t that carries everything t needs.
func validChange(t Transition) Change {
	c := Change{Transition: t, At: t0.Add(30 * time.Minute), Actor: testActor, Reason: "because"}
	switch t {
	case Upload:
		c.Content = &Content{DeclaredType: "img/png", Size: 42, SHA256: testSHA, BlobKey: "k"}
	case VerdictClean:
		c.Verdict = &Verdict{Result: ResultClean, Engine: "ClamAV", SignatureVersion: "27000", ScannedAt: c.At}
	case VerdictInfected, RescanInfected:
		c.Verdict = &Verdict{Result: ResultInfected, Signature: "Eicar-Test-Signature", ScannedAt: c.At}
	case VerdictUnscannable:
		c.Verdict = &Verdict{Result: ResultUnscannable, Reason: "Heuristics.Encrypted.Zip", ScannedAt: c.At}
	case ScanFailed:
		c.Verdict = &Verdict{Result: ResultFailed, Reason: "clamd unreachable after 10 deliveries", ScannedAt: c.At}
	case PolicyBlock:
		c.Verdict = &Verdict{Result: ResultTypeForbidden, Reason: "application/x-msdownload", ScannedAt: c.At}
	case Expire:
		c.At = t0.Add(2 * time.Hour)
	}
	return c
}

// TestApplyExhaustive checks every (state, transition) pair against a table
// written independently of the rules in transition.go.
func TestApplyExhaustive(t *testing.T) {
	type outcome struct {
		to  State // target when allowed
		err error // sentinel when refused
	}
	ok := func(s State) outcome { return outcome{to: s} }
	no := func(err error) outcome { return outcome{err: err} }
	stale, inv, overwrite := no(ErrStale), no(ErrInvalidTransition), no(ErrCannotOverwrite)
	verdictsStale := map[Transition]outcome{VerdictClean: stale, VerdictInfected: stale, VerdictUnscannable: stale, ScanFailed: stale, PolicyBlock: stale, RescanInfected: stale}
	with := func(base map[Transition]outcome, more map[Transition]outcome) map[Transition]outcome {
		m := map[Transition]outcome{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	want := map[State]map[Transition]outcome{
		StateReserved: with(verdictsStale, map[Transition]outcome{
			Upload: ok(StatePending), Release: inv, Quarantine: inv, Delete: inv, Expire: ok(StateExpired), Rescan: inv}),
		StatePending: {
			Upload: overwrite, VerdictClean: ok(StateClean), VerdictInfected: ok(StateQuarantined),
			VerdictUnscannable: ok(StateBlocked), ScanFailed: ok(StateBlocked), PolicyBlock: ok(StateBlocked),
			Release: inv, Quarantine: ok(StateQuarantined), Delete: ok(StateDeleted), Expire: inv, Rescan: ok(StatePending), RescanInfected: stale},
		StateClean: with(verdictsStale, map[Transition]outcome{
			Upload: overwrite, Release: inv, Quarantine: ok(StateQuarantined), Delete: ok(StateDeleted), Expire: inv, Rescan: ok(StatePending),
			RescanInfected: ok(StateQuarantined)}),
		StateQuarantined: with(verdictsStale, map[Transition]outcome{
			Upload: overwrite, Release: ok(StateClean), Quarantine: inv, Delete: ok(StateDeleted), Expire: inv, Rescan: ok(StatePending)}),
		StateBlocked: with(verdictsStale, map[Transition]outcome{
			Upload: overwrite, Release: ok(StateClean), Quarantine: inv, Delete: ok(StateDeleted), Expire: inv, Rescan: ok(StatePending)}),
		StateDeleted: with(verdictsStale, map[Transition]outcome{
			Upload: overwrite, Release: inv, Quarantine: inv, Delete: inv, Expire: inv, Rescan: inv}),
		StateExpired: with(verdictsStale, map[Transition]outcome{
			Upload: no(ErrExpired), Release: inv, Quarantine: inv, Delete: inv, Expire: inv, Rescan: inv}),
	}
	if len(want) != len(States) {
		t.Fatalf("table covers %d states, want %d", len(want), len(States))
	}
	pairs := 0
	for _, s := range States {
		if len(want[s]) != len(Transitions) {
			t.Fatalf("table row %s covers %d transitions, want %d", s, len(want[s]), len(Transitions))
		}
		for _, tr := range Transitions {
			pairs++
			exp := want[s][tr]
			t.Run(fmt.Sprintf("%s/%s", s, tr), func(t *testing.T) {
				in := recordIn(s)
				histLen := len(in.History)
				out, err := in.Apply(validChange(tr))
				if got := Allowed(s, tr); got != (exp.err == nil) {
					t.Errorf("Allowed(%s, %s) = %v", s, tr, got)
				}
				if exp.err != nil {
					if !errors.Is(err, exp.err) {
						t.Fatalf("err = %v, want %v", err, exp.err)
					}
					if out.State != s || len(out.History) != histLen {
						t.Fatalf("refused change altered the record: state %s, %d events", out.State, len(out.History))
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if out.State != exp.to {
					t.Fatalf("state = %s, want %s", out.State, exp.to)
				}
				if len(out.History) != histLen+1 {
					t.Fatalf("history has %d events, want %d", len(out.History), histLen+1)
				}
				ev := out.History[len(out.History)-1]
				if ev.From != s || ev.To != exp.to || ev.Action != tr || ev.Actor != testActor || ev.At.IsZero() {
					t.Fatalf("event = %+v", ev)
				}
				if in.State != s || len(in.History) != histLen {
					t.Fatal("Apply modified its receiver")
				}
				if out.Servable() != (exp.to == StateClean) {
					t.Fatalf("Servable() = %v in %s", out.Servable(), exp.to)
				}
			})
		}
	}
	if pairs != 84 {
		t.Fatalf("checked %d pairs", pairs)
	}
}

func TestWorkerNeverOverwritesOfficer(t *testing.T) {
	r := recordIn(StatePending)
	q, err := r.Apply(Change{Transition: Quarantine, At: t0, Actor: testActor, Reason: "uploader is a known spammer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []Transition{VerdictClean, VerdictInfected, VerdictUnscannable, ScanFailed, PolicyBlock} {
		got, err := q.Apply(validChange(tr))
		if !errors.Is(err, ErrStale) || errors.Is(err, ErrInvalidTransition) {
			t.Errorf("%s on quarantined: err = %v, want only ErrStale", tr, err)
		}
		if got.State != StateQuarantined {
			t.Errorf("%s changed state to %s", tr, got.State)
		}
	}
	// Released to clean by an officer: a late verdict cannot change it either.
	c, err := q.Apply(Change{Transition: Release, At: t0, Actor: testActor, Reason: "false positive"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(validChange(VerdictInfected)); !errors.Is(err, ErrStale) {
		t.Fatalf("infected verdict on released record: %v", err)
	}
}

func TestApplyRequirements(t *testing.T) {
	tests := []struct {
		name   string
		state  State
		change func(*Change)
		want   error
	}{
		{"no actor", StatePending, func(c *Change) {
			c.Transition = VerdictClean
			c.Verdict = validChange(VerdictClean).Verdict
			c.Actor = ""
		}, ErrMissingReason},
		{"release without reason", StateQuarantined, func(c *Change) { c.Transition = Release; c.Reason = "" }, ErrMissingReason},
		{"clean transition with infected verdict", StatePending, func(c *Change) {
			c.Transition = VerdictClean
			c.Verdict = &Verdict{Result: ResultInfected, Signature: "x"}
		}, ErrMissingVerdict},
		{"verdict transition without verdict", StatePending, func(c *Change) { c.Transition = VerdictUnscannable }, ErrMissingVerdict},
		{"infected without signature", StatePending, func(c *Change) {
			c.Transition = VerdictInfected
			c.Verdict = &Verdict{Result: ResultInfected}
		}, ErrMissingVerdict},
		{"policy block with clean result", StatePending, func(c *Change) {
			c.Transition = PolicyBlock
			c.Verdict = &Verdict{Result: ResultClean}
		}, ErrMissingVerdict},
		{"upload without content", StateReserved, func(c *Change) { c.Transition = Upload }, ErrInvalidTransition},
		{"upload with bad hash", StateReserved, func(c *Change) {
			c.Transition = Upload
			c.Content = &Content{SHA256: strings.ToUpper(testSHA), BlobKey: "k"}
		}, ErrInvalidTransition},
		{"upload after expiry", StateReserved, func(c *Change) {
			*c = validChange(Upload)
			c.At = t0.Add(61 * time.Minute)
		}, ErrExpired},
		{"expire too early", StateReserved, func(c *Change) { c.Transition = Expire; c.At = t0.Add(59 * time.Minute) }, ErrInvalidTransition},
		{"unknown transition", StatePending, func(c *Change) { c.Transition = "frobnicate" }, ErrInvalidTransition},
		{"create is history only", StatePending, func(c *Change) { c.Transition = Create }, ErrInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Change{At: t0.Add(time.Minute), Actor: testActor, Reason: "r"}
			tt.change(&c)
			if _, err := recordIn(tt.state).Apply(c); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestApplyEffects(t *testing.T) {
	up := validChange(Upload)
	r, err := recordIn(StateReserved).Apply(up)
	if err != nil {
		t.Fatal(err)
	}
	if r.Content != *up.Content || !r.UploadedAt.Equal(up.At) || !r.ExpiresAt.IsZero() {
		t.Fatalf("upload effects: %+v", r)
	}
	r, err = r.Apply(validChange(VerdictInfected))
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict == nil || r.Verdict.Signature != "Eicar-Test-Signature" || r.History[len(r.History)-1].Signature != "Eicar-Test-Signature" {
		t.Fatalf("infected verdict not recorded: %+v", r)
	}
	// The verdict is copied: changing the caller's verdict later does not reach the record.
	v := validChange(VerdictClean)
	p := recordIn(StatePending)
	c, err := p.Apply(v)
	if err != nil {
		t.Fatal(err)
	}
	v.Verdict.Result = ResultInfected
	if c.Verdict.Result != ResultClean {
		t.Fatal("record shares the caller's verdict")
	}
	again, err := c.Apply(validChange(Rescan))
	if err != nil {
		t.Fatal(err)
	}
	if again.Verdict != nil || again.State != StatePending {
		t.Fatalf("rescan kept verdict: %+v", again.Verdict)
	}
	// Two changes from the same record do not share history storage.
	a, _ := c.Apply(Change{Transition: Quarantine, At: t0, Actor: "a"})
	b, _ := c.Apply(Change{Transition: Delete, At: t0, Actor: "b"})
	if a.History[len(a.History)-1].Actor != "a" || b.History[len(b.History)-1].Actor != "b" {
		t.Fatal("histories alias each other")
	}
	e, err := recordIn(StateReserved).Apply(validChange(Expire))
	if err != nil || e.State != StateExpired || !e.ExpiresAt.IsZero() {
		t.Fatalf("expire: %+v %v", e, err)
	}
}

func TestTarget(t *testing.T) {
	for _, tr := range Transitions {
		if _, ok := Target(tr); !ok {
			t.Errorf("Target(%s) unknown", tr)
		}
	}
	if _, ok := Target(Create); ok {
		t.Error("Create has a target")
	}
}
