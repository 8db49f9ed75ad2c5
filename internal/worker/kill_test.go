package worker

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// lockedBuffer collects a subprocess's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestKillDashNineLosesNoJob builds cmd/scanworker, lets it take a job
// while clamd is frozen, kills it with SIGKILL in the middle of the scan,
// and checks that the job is redelivered and decided by another worker.
func TestKillDashNineLosesNoJob(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "scanworker")
	build := exec.Command("go", "build", "-o", bin, "github.com/mediarepo/mediarepo/cmd/scanworker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cmd/scanworker: %v\n%s", err, out)
	}

	c := testenv.StartClamd(t)
	url := testenv.NATSURL(t)
	keyDir, blobDir := filepath.Join(dir, "keys"), filepath.Join(dir, "blobs")
	if err := os.Mkdir(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := sealed.GenerateKeyFile(filepath.Join(keyDir, "test"+sealed.KeyFileSuffix)); err != nil {
		t.Fatal(err)
	}
	keys, err := sealed.LoadKeyring(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	backend, err := fs.New(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, url, newClamd(t, c.Addr()), backend, keys, Options{Name: "survivor"})
	qopts := queue.Options{AckWait: 2 * time.Second, MaxDeliver: 5, PollWait: time.Second}
	q := f.newQueue(qopts)

	addrs := testenv.FreeAddrs(t, 2)
	admin := addrs[1]
	conf := fmt.Sprintf(`embedded: false
listen: %q
admin_listen: %q
data_dir: %q
server_names: [{name: %s, homeserver: "http://127.0.0.1:1"}]
auth: {mode: whoami}
storage: {backend: fs, fs: {root: %q}}
keys: {master_key_dir: %q}
nats: {url: %q}
scan: {clamd: %q, workers: 1, ack_wait: 2s, max_deliver: 5, timeout: 1m}
`, addrs[0], admin, dir, origin, blobDir, keyDir, url, c.Addr())
	confPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd := exec.Command(bin, "-config", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scanworker did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	c.Pause()
	rec := f.publish(q, testenv.Random(128<<10))
	deadline = time.Now().Add(10 * time.Second)
	for {
		st, err := q.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.AckPending == 1 {
			break // the scanworker holds the job
		}
		if time.Now().After(deadline) {
			t.Fatalf("scanworker did not take the job (%+v)\n%s", st, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // longer than AckWait: its heartbeats keep the job
	if st, _ := q.Stats(context.Background()); st.Redelivered != 0 {
		t.Fatalf("job redelivered while the scanworker was alive and sending heartbeats (%+v)", st)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	c.Resume()
	if got := f.get(rec); got.State != media.StatePending {
		t.Fatalf("after the kill the record is %s, want pending", got.State)
	}

	f.run(q)
	got := f.await(rec, 20*time.Second)
	last := got.History[len(got.History)-1]
	if got.State != media.StateClean || last.Actor != "survivor" {
		t.Fatalf("state %s by %s; want clean by the surviving worker\n%s", got.State, last.Actor, out.String())
	}
	f.requireEmpty(q)
}
