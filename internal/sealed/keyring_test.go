package sealed_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/sealed"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := randomBytes(t, 32), randomBytes(t, 32)
	writeFile(t, filepath.Join(dir, "2026-01-01.key"), hex.EncodeToString(k1)+"\n")
	writeFile(t, filepath.Join(dir, "2026-06-01.key"), "  "+base64.StdEncoding.EncodeToString(k2)+"\r\n")
	writeFile(t, filepath.Join(dir, "README"), "not a key")
	writeFile(t, filepath.Join(dir, ".hidden.key"), "not a key either")
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := sealed.LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	if kr.Current() != "2026-06-01" || strings.Join(kr.IDs(), ",") != "2026-01-01,2026-06-01" {
		t.Fatalf("keyring %v", kr)
	}
	// The loaded keys are the file's keys: a blob sealed with a keyring
	// built from the raw bytes opens with the loaded one.
	want, err := sealed.NewKeyring("2026-01-01", map[string][]byte{"2026-01-01": k1})
	if err != nil {
		t.Fatal(err)
	}
	backend := newFS(t)
	put(t, sealed.New(backend, want), "x", []byte("hello"))
	if got, err := read(sealed.New(backend, kr), "x", 0, -1); err != nil || string(got) != "hello" {
		t.Fatalf("blob under a loaded key: %q, %v", got, err)
	}
}

func TestLoadKeyringErrorsSayWhatToDo(t *testing.T) {
	secret := strings.Repeat("ab", 31) // 62 hex digits: one byte short
	dir := t.TempDir()
	cases := map[string]func() error{
		"missing dir": func() error { _, err := sealed.LoadKeyring(filepath.Join(dir, "nope")); return err },
		"empty dir":   func() error { _, err := sealed.LoadKeyring(t.TempDir()); return err },
		"short key": func() error {
			d := t.TempDir()
			writeFile(t, filepath.Join(d, "k.key"), secret)
			_, err := sealed.LoadKeyring(d)
			return err
		},
		"not hex": func() error {
			d := t.TempDir()
			writeFile(t, filepath.Join(d, "k.key"), strings.Repeat("zz", 32))
			_, err := sealed.LoadKeyring(d)
			return err
		},
		"bad id": func() error {
			d := t.TempDir()
			writeFile(t, filepath.Join(d, "a b.key"), hex.EncodeToString(randomBytes(t, 32)))
			_, err := sealed.LoadKeyring(d)
			return err
		},
		"missing file": func() error { _, err := sealed.LoadKeyFile(filepath.Join(dir, "gone.key")); return err },
	}
	for name, load := range cases {
		err := load()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(msg, "zzzz") {
			t.Errorf("%s: error shows key material: %s", name, msg)
		}
		if name != "bad id" && !strings.Contains(msg, "generate one") {
			t.Errorf("%s: error does not say what to do: %s", name, msg)
		}
	}
}

func TestGenerateKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "first.key")
	if err := sealed.GenerateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v, %v", fi, err)
	}
	before, _ := os.ReadFile(path)
	if err := sealed.GenerateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateKeyFile: got %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("GenerateKeyFile overwrote a key")
	}
	kr, err := sealed.LoadKeyFile(path)
	if err != nil || kr.Current() != "first" {
		t.Fatalf("LoadKeyFile: %v, %v", kr, err)
	}
	if err := sealed.GenerateKeyFile(filepath.Join(dir, "noext")); err == nil {
		t.Error("GenerateKeyFile accepted a name without .key")
	}
}

// Rotation: new blobs use the newest key, old blobs stay readable while
// their key is in the ring, and a blob under a key not in the ring fails
// with ErrUnknownKey naming the ID.
func TestRotation(t *testing.T) {
	k1, k2 := randomBytes(t, 32), randomBytes(t, 32)
	ring1, err := sealed.NewKeyring("k1", map[string][]byte{"k1": k1})
	if err != nil {
		t.Fatal(err)
	}
	ring12, err := sealed.NewKeyring("k2", map[string][]byte{"k1": k1, "k2": k2})
	if err != nil {
		t.Fatal(err)
	}
	ring2, err := sealed.NewKeyring("k2", map[string][]byte{"k2": k2})
	if err != nil {
		t.Fatal(err)
	}
	backend := newFS(t)
	old := randomBytes(t, 100_000)
	put(t, sealed.New(backend, ring1), "old", old)
	put(t, sealed.New(backend, ring12), "new", []byte("new data"))
	rotated := sealed.New(backend, ring12)
	if got, err := read(rotated, "old", 0, -1); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old blob after rotation: %v", err)
	}
	if got, err := read(rotated, "old", 70_000, 10); err != nil || !bytes.Equal(got, old[70_000:70_010]) {
		t.Fatalf("range of old blob after rotation: %v", err)
	}
	if _, err := read(sealed.New(backend, ring1), "new", 0, -1); !errors.Is(err, sealed.ErrUnknownKey) || !strings.Contains(err.Error(), `"k2"`) {
		t.Fatalf("new blob under the old ring: %v, want ErrUnknownKey naming k2", err)
	}
	for _, r := range [][2]int64{{0, -1}, {5, 10}, {70_000, -1}} {
		if _, err := read(sealed.New(backend, ring2), "old", r[0], r[1]); !errors.Is(err, sealed.ErrUnknownKey) {
			t.Errorf("old blob after k1 was dropped, range %v: %v, want ErrUnknownKey", r, err)
		}
	}
	// The same ID with another key is not "unknown" but fails to verify.
	other, err := sealed.NewKeyring("k1", map[string][]byte{"k1": randomBytes(t, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := read(sealed.New(backend, other), "old", 0, -1); !errors.Is(err, sealed.ErrTampered) {
		t.Errorf("old blob under a different key with the same ID: %v, want ErrTampered", err)
	}
	// New blobs name the current key in their header.
	raw, err := read(backend, "new", 0, -1)
	if err != nil || !bytes.Contains(raw[:sealed.HeaderSize], []byte("k2")) {
		t.Errorf("header of a new blob does not name k2: %v", err)
	}
}

func TestNewKeyringValidates(t *testing.T) {
	good := randomBytes(t, 32)
	cases := map[string]struct {
		current string
		keys    map[string][]byte
	}{
		"current missing": {"k2", map[string][]byte{"k1": good}},
		"short key":       {"k1", map[string][]byte{"k1": good[:31]}},
		"bad id":          {"k/1", map[string][]byte{"k/1": good}},
		"long id":         {strings.Repeat("k", 65), map[string][]byte{strings.Repeat("k", 65): good}},
		"empty":           {"", map[string][]byte{}},
	}
	for name, c := range cases {
		if _, err := sealed.NewKeyring(c.current, c.keys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Printing or logging a keyring shows IDs, never key bytes.
func TestKeyringNeverPrintsKeys(t *testing.T) {
	key := randomBytes(t, 32)
	kr, err := sealed.NewKeyring("k1", map[string][]byte{"k1": key})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("keys", "keyring", kr)
	for _, out := range []string{fmt.Sprint(kr), fmt.Sprintf("%+v", kr), fmt.Sprintf("%#v", kr), logged.String()} {
		if !strings.Contains(out, "k1") {
			t.Errorf("output lacks the key ID: %s", out)
		}
		for _, enc := range []string{hex.EncodeToString(key[:8]), base64.StdEncoding.EncodeToString(key[:9]), fmt.Sprint(key[:4])[1:10]} {
			if strings.Contains(out, enc) {
				t.Errorf("output shows key bytes: %s", out)
			}
		}
	}
}
