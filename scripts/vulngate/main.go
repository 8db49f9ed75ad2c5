// Command vulngate reads govulncheck's JSON output (-format json) on stdin
// and fails when a known vulnerability is reachable from our code (a
// vulnerable function is called) and not accepted in the acceptance file,
// or when an acceptance has expired or lacks a reason. Vulnerabilities in
// imported code that is never called are listed, not failed.
//
//	govulncheck -db file://... -format json ./... | go run ./scripts/vulngate -accept deploy/vuln-accept.yaml
//
// govulncheck itself has no way to accept a finding, hence this gate.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	acceptFile := flag.String("accept", "deploy/vuln-accept.yaml", "file of accepted vulnerabilities (id, reason, until)")
	flag.Parse()
	acc, err := loadAccepted(*acceptFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	rep, err := readReport(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate: reading govulncheck's output:", err)
		os.Exit(2)
	}
	if !judge(os.Stdout, rep, acc, time.Now()) {
		os.Exit(1)
	}
}

// judge prints the verdict on rep and reports whether it passes.
func judge(w io.Writer, rep report, acc []accepted, now time.Time) bool {
	ok := true
	for _, a := range acc {
		if a.Reason == "" || a.Until.IsZero() {
			fmt.Fprintf(w, "FAIL %s: an acceptance needs a reason and an until date\n", a.ID)
			ok = false
		}
	}
	for _, id := range rep.ids() {
		f := rep.findings[id]
		summary := rep.summary(id)
		if !f.called {
			fmt.Fprintf(w, "info %s (%s): in a dependency we import, but no vulnerable function is called\n", id, summary)
			continue
		}
		a, found := find(acc, id)
		switch {
		case !found:
			fmt.Fprintf(w, "FAIL %s (%s): reachable from our code via %s; fix it (%s) or accept it in the acceptance file with a reason and an expiry\n",
				id, summary, f.via, rep.fixedIn(id))
			ok = false
		case !now.Before(a.Until.Time):
			fmt.Fprintf(w, "FAIL %s: acceptance expired on %s (%s)\n", id, a.Until.Format(time.DateOnly), a.Reason)
			ok = false
		default:
			fmt.Fprintf(w, "accepted %s until %s: %s\n", id, a.Until.Format(time.DateOnly), a.Reason)
		}
	}
	for _, a := range acc {
		if f, seen := rep.findings[a.ID]; !seen || !f.called {
			fmt.Fprintf(w, "note: acceptance of %s is no longer needed; remove it\n", a.ID)
		}
	}
	if ok {
		fmt.Fprintf(w, "vulngate: no unaccepted reachable vulnerability (%d known to the database used, db %s)\n", rep.osvCount, rep.db)
	}
	return ok
}
