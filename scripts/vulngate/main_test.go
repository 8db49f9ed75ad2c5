package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// stream is govulncheck -format json output: a vulnerability whose function
// we call (GO-2026-0001) and one in a package we import without calling
// the vulnerable function (GO-2026-0002).
const stream = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","db":"file:///db"}}
{"progress":{"message":"Scanning your code"}}
{"osv":{"id":"GO-2026-0001","summary":"Panic in Parse","affected":[{"package":{"name":"example.org/lib"}}]}}
{"osv":{"id":"GO-2026-0002","summary":"Leak in Other","affected":[{"package":{"name":"example.org/other"}}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.2.3","trace":[{"module":"example.org/lib","version":"v1.2.0","package":"example.org/lib"}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.2.3","trace":[{"module":"example.org/lib","version":"v1.2.0","package":"example.org/lib","function":"Parse"},{"module":"github.com/mediarepo/mediarepo","package":"github.com/mediarepo/mediarepo/internal/x","function":"Load"}]}}
{"finding":{"osv":"GO-2026-0002","trace":[{"module":"example.org/other","version":"v0.1.0","package":"example.org/other"}]}}
`

func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	day := func(s string) date {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return date{d}
	}
	cases := map[string]struct {
		acc  []accepted
		pass bool
		want string
	}{
		"reachable, not accepted": {nil, false, "FAIL GO-2026-0001 (Panic in Parse): reachable from our code via example.org/lib@v1.2.0 example.org/lib.Parse; fix it (fixed in v1.2.3)"},
		"accepted":                {[]accepted{{ID: "GO-2026-0001", Reason: "input is trusted", Until: day("2027-01-01")}}, true, "accepted GO-2026-0001 until 2027-01-01"},
		"acceptance expired":      {[]accepted{{ID: "GO-2026-0001", Reason: "input is trusted", Until: day("2026-12-07")}}, false, "acceptance expired on 2026-12-07"},
		"no reason":               {[]accepted{{ID: "GO-2026-0001", Until: day("2027-01-01")}}, false, "needs a reason and an until date"},
		"stale acceptance":        {[]accepted{{ID: "GO-2026-0001", Reason: "r", Until: day("2027-01-01")}, {ID: "GO-2026-0002", Reason: "r", Until: day("2027-01-01")}}, true, "acceptance of GO-2026-0002 is no longer needed"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rep, err := readReport(strings.NewReader(stream))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if got := judge(&out, rep, c.acc, now); got != c.pass {
				t.Errorf("pass = %v, want %v:\n%s", got, c.pass, out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, out.String())
			}
			if !strings.Contains(out.String(), "info GO-2026-0002") {
				t.Errorf("the imported-but-not-called vulnerability is not listed:\n%s", out.String())
			}
		})
	}
}

func TestReadReportRefusesOtherInput(t *testing.T) {
	if _, err := readReport(strings.NewReader(`{"progress":{"message":"x"}}`)); err == nil {
		t.Fatal("output without a config message was accepted")
	}
	if _, err := readReport(strings.NewReader(`Scanning your code...`)); err == nil {
		t.Fatal("text output was accepted")
	}
}

func TestLoadAcceptedIsStrict(t *testing.T) {
	acc, err := loadAccepted("../../deploy/vuln-accept.yaml")
	if err != nil {
		t.Fatalf("the project's acceptance file: %v, %v", acc, err)
	}
}
