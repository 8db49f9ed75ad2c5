package lazyfs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node whose open files keep undo logs.
type node struct {
	fs.LoopbackNode
	fs *FS
}

var (
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
)

// Open wraps the loopback's file. It opens for reading too (a write
// first reads what it overwrites), and makes O_TRUNC a recorded
// truncation.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, readable(flags)&^syscall.O_TRUNC)
	if errno != 0 {
		return nil, 0, errno
	}
	f := n.wrap(fh, flags)
	if flags&syscall.O_TRUNC != 0 {
		if errno := f.truncate(0); errno != 0 {
			f.Release(ctx)
			return nil, 0, errno
		}
	}
	return f, fl, 0
}

// Create wraps the new file and marks it as never synced (a file that
// exists already is opened as Open does).
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	_, statErr := os.Lstat(filepath.Join(n.fs.backing, n.Path(n.fs.root.RootNode.EmbeddedInode()), name))
	existed := statErr == nil
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, readable(flags)&^syscall.O_TRUNC, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	c, ok := ch.Operations().(*node)
	if !ok {
		return ch, fh, fl, 0
	}
	f := c.wrap(fh, flags)
	if existed {
		if flags&syscall.O_TRUNC != 0 {
			if errno := f.truncate(0); errno != 0 {
				f.Release(ctx)
				return nil, nil, 0, errno
			}
		}
		return ch, f, fl, 0
	}
	n.fs.mu.Lock()
	if n.fs.files[c] == nil {
		n.fs.files[c] = &fileState{created: true}
	}
	n.fs.mu.Unlock()
	return ch, f, fl, 0
}

// readable turns write-only into read-write.
func readable(flags uint32) uint32 {
	if flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		return flags&^syscall.O_ACCMODE | syscall.O_RDWR
	}
	return flags
}

// Setattr records a truncation without a file handle (truncate(2)).
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := f.(*file); ok {
		return n.LoopbackNode.Setattr(ctx, f, in, out) // the file's Setattr records
	}
	if _, ok := in.GetSize(); ok {
		// Open the file only to record what the truncation cuts off.
		fh, _, errno := n.LoopbackNode.Open(ctx, syscall.O_RDWR)
		if errno != 0 {
			return errno
		}
		lf := n.wrap(fh, syscall.O_RDWR)
		defer lf.Release(ctx)
		return lf.Setattr(ctx, in, out)
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

func (n *node) wrap(fh fs.FileHandle, flags uint32) *file {
	lf := fh.(*fs.LoopbackFile)
	fd, _ := lf.PassthroughFd()
	return &file{LoopbackFile: lf, n: n, fd: fd, sync: flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0}
}

// file is an open file: writes record what they overwrite, fsync
// forgets it.
type file struct {
	*fs.LoopbackFile
	n    *node
	fd   int
	sync bool // opened O_SYNC or O_DSYNC: every write is durable
}

var (
	_ fs.FileWriter    = (*file)(nil)
	_ fs.FileWritever  = (*file)(nil)
	_ fs.FileFsyncer   = (*file)(nil)
	_ fs.FileSetattrer = (*file)(nil)
)

// Write saves the bytes it overwrites, then writes through.
func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	l := f.n.fs
	l.mu.Lock()
	defer l.mu.Unlock()
	if !f.sync {
		st, err := l.state(f.n, f.fd)
		if err != nil {
			return 0, fs.ToErrno(err)
		}
		old := make([]byte, len(data))
		n, err := syscall.Pread(f.fd, old, off)
		if err != nil {
			return 0, fs.ToErrno(err)
		}
		st.undo = append(st.undo, undo{off: off, old: old[:n]})
	}
	n, err := syscall.Pwrite(f.fd, data, off)
	if err != nil {
		return uint32(max(n, 0)), fs.ToErrno(err)
	}
	if f.sync {
		delete(l.files, f.n) // durable as it is now
	}
	return uint32(n), 0
}

// Writev writes the slices as one.
func (f *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	return f.Write(ctx, all, off)
}

// Fsync makes the file durable as it is: its undo log is dropped. (The
// backing file is not fsynced: durability is what this file system
// pretends, and the backing directory only has to survive the test.)
func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	f.n.fs.synced(f.n)
	return 0
}

// Setattr records a truncation's cut before it is made.
func (f *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		if errno := f.truncating(int64(sz)); errno != 0 {
			return errno
		}
	}
	return f.LoopbackFile.Setattr(ctx, in, out)
}

// truncate records a truncation to size and makes it.
func (f *file) truncate(size int64) syscall.Errno {
	if errno := f.truncating(size); errno != 0 {
		return errno
	}
	return fs.ToErrno(syscall.Ftruncate(f.fd, size))
}

// truncating saves the bytes a truncation to size cuts off.
func (f *file) truncating(size int64) syscall.Errno {
	l := f.n.fs
	l.mu.Lock()
	defer l.mu.Unlock()
	if f.sync {
		return 0
	}
	st, err := l.state(f.n, f.fd)
	if err != nil {
		return fs.ToErrno(err)
	}
	var cur syscall.Stat_t
	if err := syscall.Fstat(f.fd, &cur); err != nil {
		return fs.ToErrno(err)
	}
	if size >= cur.Size {
		st.undo = append(st.undo, undo{off: size}) // growth: undone by the final truncation
		return 0
	}
	old := make([]byte, cur.Size-size)
	n, err := syscall.Pread(f.fd, old, size)
	if err != nil {
		return fs.ToErrno(err)
	}
	st.undo = append(st.undo, undo{off: size, old: old[:n]})
	return 0
}

// PassthroughFd refuses kernel passthrough: every write must come here.
func (f *file) PassthroughFd() (int, bool) { return -1, false }
