package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// storeChildCommand runs one upload in a fresh process so its peak RSS is
// that upload's alone.
const storeChildCommand = "store-rss-child"

type childResult struct {
	BaselineKB int64   `json:"baseline_kb"`
	PeakKB     int64   `json:"peak_kb"`
	Seconds    float64 `json:"seconds"`
}

// childRSS runs one upload of size in a child process and returns its
// peak RSS growth in bytes and the upload's duration in seconds. The
// secret key reaches the child through its environment, not argv.
func childRSS(conn s3Flags, mode string, size int64) (int64, float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(self, storeChildCommand, "-mode", mode, "-size", strconv.FormatInt(size, 10),
		"-bucket", conn.bucket, "-part-size", conn.partSize, "-concurrency", strconv.FormatUint(uint64(conn.concurrency), 10))
	cmd.Env = append(os.Environ(),
		"MEDIAREPO_TEST_S3_ENDPOINT="+conn.endpoint,
		"MEDIAREPO_TEST_S3_ACCESS_KEY="+conn.accessKey,
		"MEDIAREPO_TEST_S3_SECRET_KEY="+conn.secretKey)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("%s upload in a child process: %w", mode, err)
	}
	var res childResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		return 0, 0, fmt.Errorf("child output %q: %w", out, err)
	}
	return (res.PeakKB - res.BaselineKB) * 1024, res.Seconds, nil
}

func runStoreChild(args []string) int {
	fs := flag.NewFlagSet(storeChildCommand, flag.ContinueOnError)
	var conn s3Flags
	conn.register(fs)
	mode := fs.String("mode", "sealed", "raw, sealed or sealed-unknown-size")
	size := fs.Int64("size", 1e9, "bytes to upload")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, err := storeChild(conn, *mode, *size)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mrbench %s: %v\n", storeChildCommand, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

func storeChild(conn s3Flags, mode string, size int64) (childResult, error) {
	cfg, err := conn.config()
	if err != nil {
		return childResult{}, err
	}
	ctx := context.Background()
	b, err := newBench(ctx, cfg)
	if err != nil {
		return childResult{}, err
	}
	runtime.GC()
	var res childResult
	if res.BaselineKB, err = procStatusKB("self", "VmHWM"); err != nil {
		return res, err
	}
	key := "rss/" + mode
	start := time.Now()
	switch mode {
	case "raw":
		err = b.rawPut(ctx, key, size)
	case "sealed":
		err = b.sealedPut(ctx, key, size)
	case "sealed-unknown-size":
		err = b.sealed.Put(ctx, key, &repeatReader{block: b.block, left: size}, -1)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		return res, err
	}
	if res.PeakKB, err = procStatusKB("self", "VmHWM"); err != nil {
		return res, err
	}
	return res, b.raw.RemoveObject(ctx, cfg.Bucket, key, minio.RemoveObjectOptions{})
}

// procStatusKB reads a "kB" field such as VmHWM (peak RSS) from
// /proc/PID/status (pid "self": this process).
func procStatusKB(pid, field string) (int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%s/status", field, pid)
}
