package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// storageProcs are the command names (/proc/PID/comm) that -pin moves to
// the first CPU: the storage behind mediarepo, which production runs on
// hardware of its own.
var storageProcs = []string{"minio", "postgres"}

// pinCores gives MinIO and PostgreSQL CPU 0 and this process the other
// CPUs; the mediarepo instances it starts later inherit its mask. It is a
// diagnostic: on a small machine it shows which figures are set by the
// storage competing with mediarepo for the same cores, and which by
// mediarepo itself. restore gives every CPU back to all of them (those
// still running). Affinity is per thread, so every thread of each process
// is set; threads created later inherit their creator's mask.
func pinCores() (restore func(), desc string, err error) {
	n := runtime.NumCPU()
	if n < 2 {
		return nil, "", errors.New("-pin needs at least 2 CPUs")
	}
	var storage, rest, all unix.CPUSet
	storage.Set(0)
	for c := range n {
		all.Set(c)
		if c > 0 {
			rest.Set(c)
		}
	}
	pinned, err := setAffinity(storage, storageProcs...)
	if err != nil {
		return nil, "", err
	}
	if pinned == 0 {
		return nil, "", errors.New("-pin: no minio or postgres process found")
	}
	if err := setOwnAffinity(rest); err != nil {
		_, _ = setAffinity(all, storageProcs...)
		return nil, "", err
	}
	restore = func() {
		_, _ = setAffinity(all, storageProcs...)
		_ = setOwnAffinity(all)
	}
	desc = fmt.Sprintf("pinned (-pin): minio and postgres (%d threads) on CPU 0; this load generator and the mediarepo instances it starts on CPUs 1-%d",
		pinned, n-1)
	return restore, desc, nil
}

// setAffinity sets the mask of every thread of every process whose
// command name is one of names, and says how many threads it set.
func setAffinity(mask unix.CPUSet, names ...string) (int, error) {
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return 0, err
	}
	set := 0
	for _, p := range comms {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		name := string(bytes.TrimSpace(b))
		match := false
		for _, n := range names {
			match = match || name == n
		}
		if !match {
			continue
		}
		k, err := setThreads(filepath.Dir(p), mask)
		if err != nil {
			return set, fmt.Errorf("pinning %s (%s): %w", name, filepath.Dir(p), err)
		}
		set += k
	}
	return set, nil
}

// setOwnAffinity sets the mask of every thread of this process.
func setOwnAffinity(mask unix.CPUSet) error {
	_, err := setThreads("/proc/self", mask)
	return err
}

// setThreads sets the mask of each thread listed under procDir/task.
func setThreads(procDir string, mask unix.CPUSet) (int, error) {
	tasks, err := os.ReadDir(filepath.Join(procDir, "task"))
	if err != nil {
		return 0, err
	}
	set := 0
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &mask); err != nil {
			if errors.Is(err, unix.ESRCH) {
				continue // the thread ended meanwhile
			}
			return set, err
		}
		set++
	}
	return set, nil
}
