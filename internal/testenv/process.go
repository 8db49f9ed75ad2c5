package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// process is a service process a test started: its command and a channel
// closed when it has exited.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startProcess starts cmd with its output in logPath and waits up to 30 s
// until ready() holds. It fails the test, with logTail(), when the process
// exits or does not become ready.
func startProcess(t testing.TB, name string, cmd *exec.Cmd, logPath string, ready func() bool, logTail func() string) *process {
	t.Helper()
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case <-p.exited:
			t.Fatalf("%s exited during start-up:\n%s", name, logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready within 30 s:\n%s", name, logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// serviceDirs returns a private service's directory (short: unix socket
// paths are limited to 108 bytes) and its temporary directory, on tmpfs
// when /dev/shm exists so that scanned content stays off the disk, as in
// production. Both are removed when the test ends.
func serviceDirs(t testing.TB, name string) (dir, tmp string) {
	t.Helper()
	dir, err := os.MkdirTemp("", name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tmp = filepath.Join(dir, "tmp")
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if tmp, err = os.MkdirTemp("/dev/shm", "mediarepo-"+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(tmp) })
	} else if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir, tmp
}

// tailFiles returns the last 2000 bytes of each file, for failure messages.
func tailFiles(paths ...string) string {
	var b strings.Builder
	for _, f := range paths {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		b.Write(data)
	}
	return b.String()
}
