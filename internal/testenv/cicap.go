package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables of the test c-icap (exported by `scripts/testenv env`).
const (
	EnvICAPURL   = "MEDIAREPO_TEST_ICAP_URL"
	EnvCICAPConf = "MEDIAREPO_TEST_CICAP_CONF"
)

// ICAPURL returns the shared test c-icap's antivirus service,
// "icap://127.0.0.1:11344/avscan" (c-icap's virus_scan in front of the
// shared test clamd).
func ICAPURL(t testing.TB) string {
	t.Helper()
	return Getenv(t, EnvICAPURL)
}

// CICAP is a private c-icap instance for one test: the test environment's
// configuration with its own port, directory and temporary directory, in
// front of a clamd the test chooses, so that the test can stop, restart or
// freeze it without disturbing other tests.
type CICAP struct {
	t       testing.TB
	conf    string
	port    int
	dir     string
	service string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// StartCICAP starts a private c-icap (see CICAP) that scans with the clamd
// listening on clamdSocket (a path), waits until its service answers
// OPTIONS, and stops it when the test ends.
func StartCICAP(t testing.TB, clamdSocket string) *CICAP {
	t.Helper()
	base := Getenv(t, EnvCICAPConf)
	u := ICAPURL(t)
	service := u[strings.LastIndex(u, "/")+1:]
	dir, tmp := serviceDirs(t, "cicap")
	c := &CICAP{t: t, conf: filepath.Join(dir, "c-icap.conf"), port: freePort(t), dir: dir, service: service}
	set := map[string]string{
		"Port":                  "127.0.0.1:" + strconv.Itoa(c.port),
		"PidFile":               filepath.Join(dir, "c-icap.pid"),
		"CommandsSocket":        filepath.Join(dir, "c-icap.ctl"),
		"ServerLog":             filepath.Join(dir, "server.log"),
		"AccessLog":             filepath.Join(dir, "access.log"),
		"TmpDir":                tmp,
		"clamd_mod.ClamdSocket": clamdSocket,
	}
	conf, err := rewriteConf(base, set, []string{"Port", "PidFile", "CommandsSocket", "ServerLog", "AccessLog", "TmpDir", "clamd_mod.ClamdSocket"})
	if err != nil {
		t.Fatalf("c-icap config from %s: %v", base, err)
	}
	if err := os.WriteFile(c.conf, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	c.Start()
	return c
}

// Addr returns the instance's antivirus service URL, "icap://127.0.0.1:PORT/avscan".
func (c *CICAP) Addr() string {
	return fmt.Sprintf("icap://127.0.0.1:%d/%s", c.port, c.service)
}

// Start starts the instance (again) on the same port and waits until its
// service answers OPTIONS.
func (c *CICAP) Start() {
	c.t.Helper()
	if c.cmd != nil {
		c.t.Fatal("testenv: c-icap already running")
	}
	cmd := exec.Command("c-icap", "-N", "-f", c.conf)
	// Its own process group: c-icap forks its servers, and Stop, Pause and
	// Resume signal them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := startProcess(c.t, "c-icap", cmd, filepath.Join(c.dir, "c-icap.out"), c.ready, c.logTail)
	c.cmd, c.exited = p.cmd, p.exited
}

// Stop stops the instance and its servers (SIGTERM to the process group,
// SIGKILL after 10 s) and waits until it has exited.
func (c *CICAP) Stop() {
	if c.cmd == nil {
		return
	}
	pgid := -c.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGCONT)
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-c.exited
	}
	// Servers that outlive the main process would keep the port.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	c.cmd = nil
}

// Pause freezes the instance (SIGSTOP to its process group): connections
// are accepted by the kernel but nothing answers. Resume undoes it.
func (c *CICAP) Pause() {
	c.t.Helper()
	if c.cmd == nil || syscall.Kill(-c.cmd.Process.Pid, syscall.SIGSTOP) != nil {
		c.t.Fatal("testenv: pause of a c-icap that does not run")
	}
}

// Resume continues a paused instance (SIGCONT).
func (c *CICAP) Resume() {
	c.t.Helper()
	if c.cmd == nil || syscall.Kill(-c.cmd.Process.Pid, syscall.SIGCONT) != nil {
		c.t.Fatal("testenv: resume of a c-icap that does not run")
	}
}

func (c *CICAP) ready() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	host := fmt.Sprintf("127.0.0.1:%d", c.port)
	if _, err := fmt.Fprintf(conn, "OPTIONS icap://%s/%s ICAP/1.0\r\nHost: %s\r\nEncapsulated: null-body=0\r\n\r\n", host, c.service, host); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "ICAP/1.0 200")
}

func (c *CICAP) logTail() string {
	return tailFiles(filepath.Join(c.dir, "c-icap.out"), filepath.Join(c.dir, "server.log"))
}
