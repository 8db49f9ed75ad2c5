// Package faults_test runs mediarepo as operators run it at scale — a
// three-node JetStream cluster, PostgreSQL, S3, two API replicas behind a
// round-robin proxy, two scanworkers and clamd, every one a separate
// process started by scripts/cluster — kills parts of it with SIGKILL
// under load, and checks afterwards that nothing was lost and nothing
// infected was ever served.
package faults_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cluster drives scripts/cluster.
type cluster struct {
	t    testing.TB
	root string
	env  []string
	vars map[string]string
}

// startCluster brings a fresh cluster up (sync is "always" or "default",
// the NATS default fsync interval; env adds settings such as
// MEDIAREPO_CLUSTER_LAZYFS=1) and takes it down when the test ends.
func startCluster(t testing.TB, sync string, env ...string) *cluster {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, root: root, vars: map[string]string{}}
	c.env = append(append(os.Environ(), "MEDIAREPO_CLUSTER_SYNC="+sync), env...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster state and logs kept in %s", filepath.Join(root, ".cluster"))
		}
		_ = c.run("down")
	})
	start := time.Now()
	if err := c.run("up"); err != nil {
		t.Fatalf("scripts/cluster up: %v", err)
	}
	t.Logf("cluster up in %s (sync_interval %s)", time.Since(start).Round(time.Millisecond), sync)
	out, err := c.output("env")
	if err != nil {
		t.Fatalf("scripts/cluster env: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			c.vars[k] = v
		}
	}
	return c
}

// Var returns one of `scripts/cluster env`'s values.
func (c *cluster) Var(name string) string {
	v := c.vars[name]
	if v == "" {
		c.t.Fatalf("scripts/cluster env does not set %s", name)
	}
	return v
}

func (c *cluster) command(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.root, "scripts", "cluster"), args...)
	cmd.Dir = c.root
	cmd.Env = c.env
	return cmd
}

func (c *cluster) run(args ...string) error {
	cmd := c.command(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		c.t.Logf("scripts/cluster %s:\n%s", strings.Join(args, " "), out.String())
	}
	return err
}

func (c *cluster) output(args ...string) ([]byte, error) {
	return c.command(args...).Output()
}

// Kill sends SIGKILL to a process of the cluster and waits until it is gone.
func (c *cluster) Kill(name string) {
	if err := c.run("kill", name); err != nil {
		c.t.Errorf("kill %s: %v", name, err)
	}
}

// Start starts a process of the cluster again.
func (c *cluster) Start(name string) {
	if err := c.run("start", name); err != nil {
		c.t.Errorf("start %s: %v", name, err)
	}
}

// Pause and Resume send SIGSTOP and SIGCONT.
func (c *cluster) Pause(name string) {
	if err := c.run("pause", name); err != nil {
		c.t.Errorf("pause %s: %v", name, err)
	}
}

// Resume continues a paused process.
func (c *cluster) Resume(name string) {
	if err := c.run("resume", name); err != nil {
		c.t.Errorf("resume %s: %v", name, err)
	}
}

// Log returns a process's log.
func (c *cluster) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.Var("MEDIAREPO_CLUSTER_DIR"), name+".log"))
	return string(b)
}

// PowerLoss kills the three NATS servers at once and drops every write
// they had not fsynced (the cluster must run with MEDIAREPO_CLUSTER_LAZYFS=1).
func (c *cluster) PowerLoss() {
	if err := c.run("powerloss"); err != nil {
		c.t.Errorf("powerloss: %v", err)
	}
}
