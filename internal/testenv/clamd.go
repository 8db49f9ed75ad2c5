package testenv

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
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

// Clamd is a private clamd instance for one test: it uses the test
// environment's configuration and generated signature database, but its
// own loopback port, socket and temporary directory, so the test can stop,
// restart or freeze it without disturbing other tests.
type Clamd struct {
	t       testing.TB
	bin     string
	conf    string
	port    int
	socket  string
	logFile string
	db      string // the signature database directory
	cmd     *exec.Cmd
	exited  chan struct{}
}

// clamdOverrides are the directives a private instance sets itself.
var clamdOverrides = []string{"TCPSocket", "TCPAddr", "LocalSocket", "PidFile", "LogFile", "TemporaryDirectory", "DatabaseDirectory"}

// StartClamd starts a private clamd (see Clamd), waits until it answers
// PING, and stops it when the test ends.
func StartClamd(t testing.TB) *Clamd {
	t.Helper()
	return startClamd(t, Getenv(t, EnvClamdDB))
}

// StartClamdOwnDB starts a private clamd (see StartClamd) on its own copy
// of the test signature database, so that the test can add signatures to
// it (AddSignature): a signature update, for real.
func StartClamdOwnDB(t testing.TB) *Clamd {
	t.Helper()
	src := Getenv(t, EnvClamdDB)
	db := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(db, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return startClamd(t, db)
}

// AddSignature appends an MD5 hash signature (.hdb) named name for data
// to the instance's own database (StartClamdOwnDB) and restarts the
// instance, which returns once the new database answers PING. clamd
// reports the name with ".UNOFFICIAL" appended.
func (c *Clamd) AddSignature(name string, data []byte) {
	c.t.Helper()
	if c.db == Getenv(c.t, EnvClamdDB) {
		c.t.Fatal("testenv: AddSignature needs StartClamdOwnDB (the shared database is read-only)")
	}
	f, err := os.OpenFile(filepath.Join(c.db, "mediarepo-update.hdb"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "%x:%d:%s\n", md5.Sum(data), len(data), name)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.Stop()
	c.Start()
}

func startClamd(t testing.TB, db string) *Clamd {
	t.Helper()
	bin := Getenv(t, EnvClamdBin)
	base := Getenv(t, EnvClamdConf)

	dir, tmp := serviceDirs(t, "clamd")

	c := &Clamd{
		t:       t,
		bin:     bin,
		conf:    filepath.Join(dir, "clamd.conf"),
		port:    freePort(t),
		socket:  filepath.Join(dir, "clamd.sock"),
		logFile: filepath.Join(dir, "clamd.log"),
		db:      db,
	}
	conf, err := rewriteConf(base, map[string]string{
		"TCPSocket":          strconv.Itoa(c.port),
		"TCPAddr":            "127.0.0.1",
		"LocalSocket":        c.socket,
		"PidFile":            filepath.Join(dir, "clamd.pid"),
		"LogFile":            c.logFile,
		"TemporaryDirectory": tmp,
		"DatabaseDirectory":  db,
	}, clamdOverrides)
	if err != nil {
		t.Fatalf("clamd config from %s: %v", base, err)
	}
	if err := os.WriteFile(c.conf, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	c.Start()
	return c
}

// rewriteConf returns the config ("Directive value" lines, as clamd and
// c-icap read them) at path with the directives in set replaced, appended
// in the order of keys.
func rewriteConf(path string, set map[string]string, keys []string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		key, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if _, ok := set[key]; ok {
			continue
		}
		out.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, key := range keys {
		if v, ok := set[key]; ok {
			fmt.Fprintf(&out, "%s %s\n", key, v)
		}
	}
	return out.Bytes(), nil
}

// Addr returns the instance's TCP address, "tcp://127.0.0.1:PORT".
func (c *Clamd) Addr() string { return fmt.Sprintf("tcp://127.0.0.1:%d", c.port) }

// SocketAddr returns the instance's unix socket address, "unix:///...".
func (c *Clamd) SocketAddr() string { return "unix://" + c.socket }

// Start starts the instance (again) on the same port and socket and waits
// until it answers PING. Starting a running instance is a test error.
func (c *Clamd) Start() {
	c.t.Helper()
	if c.cmd != nil {
		c.t.Fatal("testenv: clamd already running")
	}
	p := startProcess(c.t, "clamd", exec.Command(c.bin, "-c", c.conf), c.logFile+".out", c.ping, c.logTail)
	c.cmd, c.exited = p.cmd, p.exited
}

// Stop stops the instance (SIGTERM, then SIGKILL after 10 s) and waits
// until it has exited. Stopping a stopped instance does nothing.
func (c *Clamd) Stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	stopProcess(c.cmd.Process, c.exited)
	c.cmd = nil
}

// Pause freezes the instance (SIGSTOP): connections are accepted by the
// kernel but nothing answers, as with a hung clamd. Resume undoes it.
func (c *Clamd) Pause() {
	c.t.Helper()
	if c.cmd == nil || c.cmd.Process.Signal(syscall.SIGSTOP) != nil {
		c.t.Fatal("testenv: pause of a clamd that does not run")
	}
}

// Resume continues a paused instance (SIGCONT).
func (c *Clamd) Resume() {
	c.t.Helper()
	if c.cmd == nil || c.cmd.Process.Signal(syscall.SIGCONT) != nil {
		c.t.Fatal("testenv: resume of a clamd that does not run")
	}
}

func (c *Clamd) ping() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, _ := io.ReadFull(conn, buf[:5]) // an error leaves n < 5: no PONG
	return string(buf[:n]) == "PONG\x00"
}

func (c *Clamd) logTail() string { return tailFiles(c.logFile+".out", c.logFile) }
