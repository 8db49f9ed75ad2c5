// Package lazyfs is a test tool: a FUSE loopback over a real directory
// that loses, on demand, every write not yet made durable with fsync or
// fdatasync, as a power loss does. It plays the part of Jepsen's LazyFS
// (which Jepsen used for its analysis of NATS 2.12 and which cannot be
// installed here) for the fault test's durability trade-off: each NATS
// server's store directory is mounted through it, and after all three
// servers are killed, PowerLoss discards what the page cache of a machine
// switched off would have lost. A SIGKILL alone cannot show that loss:
// the kernel keeps what a killed process wrote.
//
// Writes go through to the backing directory at once, so reads see them
// and no page cache of our own is needed; what a write overwrote is kept
// in an undo log until the file is synced. PowerLoss applies each file's
// undo log backwards, truncates the file to its size at its last sync,
// and removes the files created and never synced. Directory operations
// (create, rename, unlink, mkdir) are durable at once, as on a journalling
// file system; only file contents are lazy.
package lazyfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a lazy loopback over one directory.
type FS struct {
	backing string
	root    *fs.LoopbackRoot

	mu    sync.Mutex
	files map[*node]*fileState
}

// fileState is what a file looked like at its last sync, as the changes
// since then can undo it.
type fileState struct {
	created bool  // created through the mount and never synced
	size    int64 // size at the last sync (or when first written)
	undo    []undo
}

// undo is the bytes a write replaced (old may be shorter than the write,
// or empty, where it wrote past the end).
type undo struct {
	off int64
	old []byte
}

// Stats says what a PowerLoss discarded.
type Stats struct {
	Files   int   // files rolled back to their last sync
	Removed int   // files created and never synced, removed
	Bytes   int64 // bytes written since the last sync that were discarded
	// Paths names the files rolled back or removed (relative to the
	// backing directory; "-" before a removed one).
	Paths []string
}

// New returns the lazy file system over the backing directory.
func New(backing string) (*FS, error) {
	abs, err := filepath.Abs(backing)
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		return nil, fmt.Errorf("lazyfs: backing directory: %w", err)
	}
	l := &FS{backing: abs, files: map[*node]*fileState{}}
	l.root = &fs.LoopbackRoot{Path: abs, Dev: uint64(st.Dev)}
	l.root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, fs: l}
	}
	l.root.RootNode = l.root.NewNode(l.root, nil, "", &st)
	return l, nil
}

// Mount mounts the file system at dir (as root, without fusermount) and
// returns the server; Unmount it when done.
func (l *FS) Mount(dir string) (*fuse.Server, error) {
	opts := &fs.Options{MountOptions: fuse.MountOptions{
		FsName: "lazyfs:" + l.backing, Name: "lazyfs", DirectMount: true,
		// Several processes (and root's tools) may look at the store.
		AllowOther: true,
	}}
	srv, err := fs.Mount(dir, l.root.RootNode, opts)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: mounting %s on %s: %w", l.backing, dir, err)
	}
	return srv, nil
}

// PowerLoss discards every write since each file's last sync and removes
// the files never synced, directly in the backing directory. Call it once
// the processes writing through the mount are dead; unmount afterwards
// (the kernel's cache of the mount still holds what was discarded).
func (l *FS) PowerLoss() (Stats, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var st Stats
	var errs []error
	for n, f := range l.files {
		if _, parent := n.Parent(); parent == nil {
			continue // unlinked: gone, durably
		}
		path := filepath.Join(l.backing, n.Path(l.root.RootNode.EmbeddedInode()))
		if f.created {
			if info, err := os.Stat(path); err == nil {
				st.Bytes += info.Size()
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			st.Removed++
			st.Paths = append(st.Paths, "-"+n.Path(l.root.RootNode.EmbeddedInode()))
			continue
		}
		if err := f.rollBack(path, &st); err != nil {
			errs = append(errs, err)
		}
		if len(f.undo) > 0 {
			st.Paths = append(st.Paths, n.Path(l.root.RootNode.EmbeddedInode()))
		}
	}
	l.files = map[*node]*fileState{}
	return st, errors.Join(errs...)
}

// rollBack applies the undo log backwards and truncates to the size at
// the last sync.
func (f *fileState) rollBack(path string, st *Stats) error {
	if len(f.undo) == 0 {
		return nil
	}
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("lazyfs: rolling back %s: %w", path, err)
	}
	defer file.Close()
	if info, err := file.Stat(); err == nil && info.Size() > f.size {
		st.Bytes += info.Size() - f.size
	}
	for i := len(f.undo) - 1; i >= 0; i-- {
		u := f.undo[i]
		if _, err := file.WriteAt(u.old, u.off); err != nil {
			return fmt.Errorf("lazyfs: rolling back %s: %w", path, err)
		}
		if u.off < f.size {
			st.Bytes += int64(len(u.old))
		}
	}
	if err := file.Truncate(f.size); err != nil {
		return fmt.Errorf("lazyfs: rolling back %s: %w", path, err)
	}
	st.Files++
	return nil
}

// state returns the file's state (l.mu held), creating it from the
// file's current size (a file from before the mount, or synced since)
// when it has none.
func (l *FS) state(n *node, fd int) (*fileState, error) {
	f := l.files[n]
	if f == nil {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return nil, err
		}
		f = &fileState{size: st.Size}
		l.files[n] = f
	}
	return f, nil
}

// synced records that the file is durable as it is now.
func (l *FS) synced(n *node) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.files, n) // no state: the file is as it was at its last sync
}
