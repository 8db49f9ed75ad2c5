package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mediarepo/mediarepo/internal/config"
)

// instanceOptions describe one mediarepo process of the http benchmark.
// Every instance runs the embedded default's NATS (in-process JetStream,
// by default with sync_interval "always": an fsync per write) and its
// static development token, on the filesystem store or on S3.
type instanceOptions struct {
	name    string // for logs and errors
	bin     string // path to the mediarepo binary
	dir     string // data directory and config files
	backend string // "fs" or "s3"
	s3      s3Flags
	// clamd is scan.clamd (configured even when no worker runs).
	clamd string
	// workers is scan.workers: in-process scan workers (0: none; the
	// uploads' jobs wait in the queue).
	workers int
	// devMarkClean marks uploads clean at once (download instances only).
	devMarkClean bool
	// maxUpload is media.max_upload_size and scan.stream_max_length.
	maxUpload int64
	// syncInterval is nats.sync_interval (empty: "always", the default).
	syncInterval string
	// catalogDSN selects the PostgreSQL catalog on this database (empty:
	// the KV catalog, the embedded default).
	catalogDSN string
	// pprof serves /debug/pprof/ on the admin listener (http.pprof).
	pprof bool
}

// instance is one running mediarepo process.
type instance struct {
	name    string
	url     string
	admin   string
	token   string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// yaml renders the configuration of o. Per-user rate limits are raised
// out of the way: the benchmark is one user at concurrency 16.
func (o instanceOptions) yaml(listen, admin string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin_listen: %s\ndata_dir: %s\nembedded: true\n", listen, admin, filepath.Join(o.dir, "data"))
	b.WriteString("server_names:\n  - name: localhost\nauth:\n  mode: static\n")
	fmt.Fprintf(&b, "storage:\n  backend: %s\n", o.backend)
	if o.backend == "s3" {
		part, err := parseSize(o.s3.partSize)
		if err != nil {
			return "", err
		}
		access, secret := filepath.Join(o.dir, "s3-access"), filepath.Join(o.dir, "s3-secret")
		if err := os.WriteFile(access, []byte(o.s3.accessKey), 0o600); err != nil {
			return "", err
		}
		if err := os.WriteFile(secret, []byte(o.s3.secretKey), 0o600); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  s3:\n    endpoint: %s\n    bucket: %s\n    access_key_file: %s\n    secret_key_file: %s\n    part_size: %d\n    concurrency: %d\n",
			o.s3.endpoint, o.s3.bucket, access, secret, part, o.s3.concurrency)
	}
	sync := o.syncInterval
	if sync == "" {
		sync = "always"
	}
	fmt.Fprintf(&b, "nats:\n  sync_interval: %q\n", sync)
	if o.catalogDSN != "" {
		dsnFile := filepath.Join(o.dir, "catalog-dsn")
		if err := os.WriteFile(dsnFile, []byte(o.catalogDSN), 0o600); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "catalog:\n  backend: postgres\n  postgres:\n    dsn_file: %s\n", dsnFile)
	}
	fmt.Fprintf(&b, "scan:\n  workers: %d\n  stream_max_length: %d\n  dev_mark_clean: %t\n", o.workers, o.maxUpload, o.devMarkClean)
	if o.clamd != "" {
		fmt.Fprintf(&b, "  clamd: %s\n", o.clamd)
	}
	fmt.Fprintf(&b, "media:\n  max_upload_size: %d\n  opaque_content: serve\n  max_pending_creates: 1000\n", o.maxUpload)
	if o.pprof {
		b.WriteString("http:\n  pprof: true\n")
	}
	b.WriteString("limits:\n  uploads_per_second: 1000000\n  upload_burst: 1000000\n  downloads_per_second: 1000000\n  download_burst: 1000000\n  max_uploads_per_user: 1000\n")
	return b.String(), nil
}

// startInstance writes the configuration, checks it as mediarepo will,
// starts the binary and waits until it is healthy and its development
// token is written.
func startInstance(ctx context.Context, o instanceOptions) (*instance, error) {
	if _, err := os.Stat(o.bin); err != nil {
		return nil, fmt.Errorf("%w: build it with `go build -o bin/ ./cmd/mediarepo`", err)
	}
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	listen, admin := addrs[0], addrs[1]
	text, err := o.yaml(listen, admin)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(o.dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		return nil, err
	}
	if _, err := config.Load(cfgPath, func(string) string { return "" }); err != nil {
		return nil, fmt.Errorf("%s: the benchmark's config is refused: %w", o.name, err)
	}
	in := &instance{name: o.name, url: "http://" + listen, admin: "http://" + admin,
		logPath: filepath.Join(o.dir, "mediarepo.log"), exited: make(chan struct{})}
	logf, err := os.Create(in.logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // the child holds its own descriptor
	in.cmd = exec.Command(o.bin, "-config", cfgPath)
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	in.cmd.Env = append(os.Environ(), "MEDIAREPO_LOG_LEVEL=warn")
	if err := in.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = in.cmd.Wait(); close(in.exited) }()
	if err := in.waitHealthy(ctx, 60*time.Second); err != nil {
		in.stop()
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(o.dir, "data", "dev-token"))
	if err != nil {
		in.stop()
		return nil, fmt.Errorf("%s: reading the development token: %w", o.name, err)
	}
	in.token = strings.TrimSpace(string(tok))
	return in, nil
}

func (in *instance) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.admin+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.exited:
			return fmt.Errorf("%s exited during start:\n%s", in.name, in.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s:\n%s", in.name, limit, in.logTail())
		}
	}
}

// stop interrupts the process and waits for it (killing it after 20 s).
func (in *instance) stop() {
	_ = in.cmd.Process.Signal(os.Interrupt)
	select {
	case <-in.exited:
	case <-time.After(20 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
}

// logTail is the end of the instance's log, for error messages.
func (in *instance) logTail() string {
	b, err := os.ReadFile(in.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// rssKB reads a "kB" field (VmRSS, VmHWM) of the process's status.
func (in *instance) rssKB(field string) (int64, error) {
	return procStatusKB(strconv.Itoa(in.cmd.Process.Pid), field)
}

// resetPeak resets the process's VmHWM to its current RSS (Linux
// clear_refs "5"; needs the right to write the process's clear_refs).
func (in *instance) resetPeak() error {
	path := fmt.Sprintf("/proc/%d/clear_refs", in.cmd.Process.Pid)
	err := os.WriteFile(path, []byte("5"), 0)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("resetting the peak RSS of %s: %w (run as the same user or root)", in.name, err)
	}
	return err
}

// freeAddrs returns n distinct loopback addresses with ports free at the
// moment. The listeners stay open until all n are chosen, so the kernel
// cannot hand out one port twice.
func freeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer func() { _ = l.Close() }()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
