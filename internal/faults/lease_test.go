package faults_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// leaseTTL is the reconciler lease's time-to-live (worker.ReconcilerOptions).
const leaseTTL = 30 * time.Second

// leader reads mediarepo_reconciler_leader from a scanworker's /metrics
// (-1 when it does not answer).
func leader(admin string) int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "mediarepo_reconciler_leader "); ok {
			if strings.TrimSpace(v) == "1" {
				return 1
			}
			return 0
		}
	}
	return -1
}

// checkSplitBrain pauses the scanworker that holds the reconciler lease
// (SIGSTOP) past the lease's TTL, checks that the other one takes the
// lease, resumes the paused one (SIGCONT) and checks that it gives up
// instead of acting as a second leader. (That a pass caught mid-way stops
// before its next write is shown by internal/worker's lease tests.)
func checkSplitBrain(t *testing.T, c *cluster) {
	admins := strings.Split(c.Var("MEDIAREPO_CLUSTER_WORKER_ADMINS"), ",")
	names := []string{"scanworker-1", "scanworker-2"}
	holder := -1
	for deadline := time.Now().Add(30 * time.Second); holder < 0 && time.Now().Before(deadline); {
		a, b := leader(admins[0]), leader(admins[1])
		switch {
		case a == 1 && b == 1:
			t.Fatal("both scanworkers hold the reconciler lease")
		case a == 1:
			holder = 0
		case b == 1:
			holder = 1
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}
	if holder < 0 {
		t.Fatal("no scanworker holds the reconciler lease")
	}
	other := 1 - holder
	c.Pause(names[holder])
	paused := time.Now()
	took := time.Duration(0)
	for time.Since(paused) < leaseTTL+15*time.Second {
		if leader(admins[other]) == 1 {
			took = time.Since(paused)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for time.Since(paused) < leaseTTL+5*time.Second {
		time.Sleep(time.Second) // stay paused past the TTL either way
	}
	c.Resume(names[holder])
	resumed := time.Now()
	if took == 0 {
		t.Fatalf("%s was paused %s, past the lease's TTL, and %s never took the lease", names[holder], time.Since(paused).Round(time.Second), names[other])
	}
	t.Logf("%s paused; %s took the lease after %s", names[holder], names[other], took.Round(time.Millisecond))
	gaveUp := time.Duration(0)
	for time.Since(resumed) < 15*time.Second {
		if leader(admins[other]) != 1 {
			t.Fatalf("%s lost the lease %s after %s was resumed", names[other], time.Since(resumed).Round(time.Millisecond), names[holder])
		}
		if gaveUp == 0 && leader(admins[holder]) == 0 {
			gaveUp = time.Since(resumed)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if gaveUp == 0 {
		t.Fatalf("%s still reports holding the lease 15 s after it was resumed", names[holder])
	}
	t.Logf("%s resumed: noticed it had lost the lease after %s; %s kept it", names[holder], gaveUp.Round(time.Millisecond), names[other])
}
