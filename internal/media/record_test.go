package media

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestRecordJSONRoundTrip(t *testing.T) {
	r := NewPending("example.org:8448", "abc", "@alice:example.org", t0,
		Content{DeclaredType: "img/png", SniffedType: "image/png", Filename: "a \"b\".png", Size: 7, SHA256: testSHA, BlobKey: "k", Entropy: 7.5})
	r, err := r.Apply(validChange(VerdictInfected))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, back) {
		t.Fatalf("round trip differs:\n%+v\n%+v", r, back)
	}
	var flat map[string]any
	if err := json.Unmarshal(b, &flat); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sha256", "blob_key", "declared_type", "state", "verdict", "history"} {
		if _, ok := flat[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if _, ok := flat["expires_at"]; ok {
		t.Errorf("zero expires_at serialised: %s", b)
	}
}

func TestServeError(t *testing.T) {
	typeBlocked := recordIn(StateBlocked)
	typeBlocked.Verdict = &Verdict{Result: ResultTypeForbidden}
	tests := []struct {
		r    Record
		want error
	}{
		{recordIn(StateClean), nil},
		{recordIn(StateReserved), ErrNotYetUploaded},
		{recordIn(StatePending), ErrNotYetUploaded},
		{recordIn(StateQuarantined), ErrNotClean},
		{recordIn(StateBlocked), ErrNotClean},
		{typeBlocked, ErrTypeForbidden},
		{recordIn(StateDeleted), ErrNotFound},
		{recordIn(StateExpired), ErrExpired},
		{recordIn("bogus"), ErrNotFound},
	}
	for _, tt := range tests {
		err := tt.r.ServeError()
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: ServeError() = %v, want %v", tt.r.State, err, tt.want)
		}
		if (err == nil) != tt.r.Servable() {
			t.Errorf("%s: Servable() disagrees with ServeError()", tt.r.State)
		}
	}
}

func TestStates(t *testing.T) {
	for _, s := range States {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		if s.Final() != (s == StateDeleted || s == StateExpired) {
			t.Errorf("%s.Final() wrong", s)
		}
	}
	if State("gone").Valid() {
		t.Error("unknown state valid")
	}
	r := NewReserved("example.org", "x", "@a:example.org", t0, t0.Add(time.Hour))
	if r.State != StateReserved || len(r.History) != 1 || r.History[0].Action != Create {
		t.Fatalf("NewReserved = %+v", r)
	}
}
