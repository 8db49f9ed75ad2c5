// Command lazyfs mounts a lazy loopback (package lazyfs) of one directory
// for the fault test's cluster (scripts/cluster with
// MEDIAREPO_CLUSTER_LAZYFS=1) and waits:
//
//	lazyfs -backing DIR -mount DIR
//
// SIGUSR1 is a power loss: every write not synced is discarded, the file
// system unmounted, and lazyfs exits 0. SIGTERM or SIGINT unmount and
// keep everything (a clean shutdown). Run it as root (it mounts without
// fusermount).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mediarepo/mediarepo/internal/faults/lazyfs"
)

func main() {
	backing := flag.String("backing", "", "directory that holds the data")
	mount := flag.String("mount", "", "mount point")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*backing, *mount, log); err != nil {
		log.Error("lazyfs failed", "err", err)
		os.Exit(1)
	}
}

func run(backing, mount string, log *slog.Logger) error {
	if backing == "" || mount == "" {
		return fmt.Errorf("usage: lazyfs -backing DIR -mount DIR")
	}
	l, err := lazyfs.New(backing)
	if err != nil {
		return err
	}
	srv, err := l.Mount(mount)
	if err != nil {
		return err
	}
	log.Info("mounted", "backing", backing, "mount", mount)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	if s == syscall.SIGUSR1 {
		st, err := l.PowerLoss()
		if err != nil {
			return fmt.Errorf("power loss: %w", err)
		}
		log.Info("power loss: unsynced writes discarded", "files_rolled_back", st.Files,
			"files_removed", st.Removed, "bytes_discarded", st.Bytes, "paths", st.Paths)
	}
	return unmount(srv.Unmount, mount, log)
}

// unmount retries for a while: the kernel may still hold the mount busy
// for a moment after the last process using it was killed.
func unmount(fn func() error, mount string, log *slog.Logger) error {
	var err error
	for range 50 {
		if err = fn(); err == nil {
			log.Info("unmounted", "mount", mount)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("unmounting %s: %w", mount, err)
}
