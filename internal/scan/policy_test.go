package scan

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// answer is an engine that gives a fixed answer after reading the content.
type answer struct {
	v   Verdict
	err error
}

func (a answer) Scan(_ context.Context, r io.Reader) (Verdict, error) {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return Verdict{}, err
	}
	a.v.Engine, a.v.EngineVersion, a.v.SignatureVersion = "E", "1", "s1"
	return a.v, a.err
}
func (answer) Ping(context.Context) error { return nil }
func (answer) Version(context.Context) (EngineVersion, error) {
	return EngineVersion{Engine: "E", Version: "1", SignatureVersion: "s1"}, nil
}

// TestPolicy is the table of the "all" policy over two engines.
func TestPolicy(t *testing.T) {
	clean := answer{v: Verdict{Result: ResultClean}}
	infected := answer{v: Verdict{Result: ResultInfected, Signature: "Evil"}}
	unscannable := answer{v: Verdict{Result: ResultUnscannable, Signature: "Heuristics.Encrypted.Zip", Reason: "encrypted"}}
	down := answer{err: ErrUnavailable}
	unknown := answer{v: Verdict{Result: "maybe"}}
	tests := []struct {
		a, b    answer
		want    Result
		wantErr bool
	}{
		{clean, clean, ResultClean, false},
		{clean, infected, ResultInfected, false},
		{infected, clean, ResultInfected, false},
		{clean, unscannable, ResultUnscannable, false},
		{infected, unscannable, ResultInfected, false},
		{clean, down, "", true},
		{unscannable, down, "", true},
		{infected, down, ResultInfected, false},
		{clean, unknown, ResultUnscannable, false},
	}
	for _, policy := range []Policy{PolicyAll, PolicyAnyInfected} {
		for _, tt := range tests {
			e, err := NewEngines(policy, Engine{Name: "a", Scanner: tt.a}, Engine{Name: "b", Scanner: tt.b})
			if err != nil {
				t.Fatal(err)
			}
			v, err := e.Scan(context.Background(), strings.NewReader("content"))
			name := string(policy) + ": " + string(tt.a.v.Result) + "+" + string(tt.b.v.Result)
			if tt.wantErr {
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: %+v, %v; want ErrUnavailable", name, v, err)
				}
				continue
			}
			if err != nil || v.Result != tt.want || len(v.Engines) != 2 {
				t.Errorf("%s: %+v, %v; want %s", name, v, err, tt.want)
			}
			if tt.want == ResultInfected && (v.Signature != "Evil" || !strings.Contains(v.Reason, "infected according to")) {
				t.Errorf("%s: signature %q reason %q", name, v.Signature, v.Reason)
			}
		}
	}
	if _, err := NewEngines("majority", Engine{Name: "a", Scanner: clean}); err == nil {
		t.Error("unknown policy accepted")
	}
	if _, err := NewEngines(PolicyAll, Engine{Name: "a", Scanner: clean}, Engine{Name: "a", Scanner: clean}); err == nil {
		t.Error("duplicate names accepted")
	}
}

// TestCombinedVersion: the list's version changes when any engine's does
// and has no signature version when any engine has none, so that
// ReuseBasis never reuses across a change of any engine.
func TestCombinedVersion(t *testing.T) {
	a := []Engine{{Name: "x"}, {Name: "y"}}
	v1 := combineVersions(a, []EngineVersion{{Engine: "ClamAV", Version: "1", SignatureVersion: "27000"}, {Engine: "C-ICAP", Version: "0.5", SignatureVersion: "T1"}})
	v2 := combineVersions(a, []EngineVersion{{Engine: "ClamAV", Version: "1", SignatureVersion: "27000"}, {Engine: "C-ICAP", Version: "0.5", SignatureVersion: "T2"}})
	if ReuseBasis("i", v1) == "" || ReuseBasis("i", v1) == ReuseBasis("i", v2) {
		t.Errorf("bases %q and %q: want different, non-empty", ReuseBasis("i", v1), ReuseBasis("i", v2))
	}
	v3 := combineVersions(a, []EngineVersion{{Engine: "ClamAV", Version: "1"}, {Engine: "C-ICAP", Version: "0.5", SignatureVersion: "T2"}})
	if ReuseBasis("i", v3) != "" {
		t.Errorf("basis %q with an engine without signature version, want empty", ReuseBasis("i", v3))
	}
}
