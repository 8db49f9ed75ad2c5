package lazyfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestPowerLoss mounts a lazy file system over a temporary directory,
// writes through it — synced, then unsynced on top; a file created and
// never synced; a synced file truncated and rewritten without sync; a file
// renamed after its sync — and checks after PowerLoss that the backing
// directory holds exactly what was synced.
func TestPowerLoss(t *testing.T) {
	backing, mnt := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(backing, "old"), []byte("from before the mount"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := New(backing)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := l.Mount(mnt)
	if err != nil {
		t.Fatalf("mount (needs root and /dev/fuse): %v", err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			_ = srv.Unmount()
		}
	})
	open := func(name string, flag int) *os.File {
		f, err := os.OpenFile(filepath.Join(mnt, name), flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	write := func(f *os.File, s string, off int64) {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Fatal(err)
		}
	}
	sync := func(f *os.File) {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}

	a := open("synced", os.O_RDWR|os.O_CREATE)
	write(a, "durable ", 0)
	sync(a)
	write(a, "LOST", 0)     // overwrites synced bytes
	write(a, "appended", 8) // grows the file
	b := open("never-synced", os.O_RDWR|os.O_CREATE)
	write(b, "gone", 0)
	c := open("old", os.O_RDWR)
	write(c, "FROM", 0)
	if err := c.Truncate(4); err != nil {
		t.Fatal(err)
	}
	write(c, "-and-more-than-before", 4)
	d := open("renamed-later", os.O_RDWR|os.O_CREATE)
	write(d, "kept under its new name", 0)
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{a, b, c, d} {
		f.Close()
	}
	// Write-only opens, as os.WriteFile does: a new file synced through
	// a write-only handle, and a synced file rewritten with O_TRUNC.
	e := open("write-only", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	write(e, "synced through a write-only handle", 0)
	sync(e)
	e.Close()
	if err := os.WriteFile(filepath.Join(mnt, "write-only"), []byte("truncated and rewritten"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(mnt, "renamed-later"), 4); err != nil {
		t.Fatal(err) // a truncate(2) without a handle
	}
	if err := os.Rename(filepath.Join(mnt, "renamed-later"), filepath.Join(mnt, "renamed")); err != nil {
		t.Fatal(err)
	}
	// Reads see what was written, synced or not.
	if got, err := os.ReadFile(filepath.Join(mnt, "synced")); err != nil || string(got) != "LOSTble appended" {
		t.Fatalf("read through the mount: %q, %v", got, err)
	}

	st, err := l.PowerLoss()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Unmount(); err != nil {
		t.Fatal(err)
	}
	mounted = false
	want := map[string]string{
		"write-only": "synced through a write-only handle",
		"synced":     "durable ",
		"old":        "from before the mount",
		"renamed":    "kept under its new name",
	}
	entries, err := os.ReadDir(backing)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("after the power loss the directory holds %v, want %d files", names, len(want))
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(backing, name))
		if err != nil || !bytes.Equal(got, []byte(content)) {
			t.Errorf("%s after the power loss: %q, %v; want %q", name, got, err, content)
		}
	}
	if st.Files != 4 || st.Removed != 1 {
		t.Errorf("power loss stats %+v, want 4 files rolled back and 1 removed", st)
	}
}
