package e2ee

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// encryptWithStdlib encrypts plaintext independently of this package's
// encryption code (crypto/cipher directly) and describes it.
func encryptWithStdlib(t testing.TB, plaintext []byte, iv [16]byte) ([]byte, EncryptedFile) {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ciphertext := make([]byte, len(plaintext))
	cipher.NewCTR(block, iv[:]).XORKeyStream(ciphertext, plaintext)
	sum := sha256.Sum256(ciphertext)
	f := validFile()
	f.Key.K = base64.RawURLEncoding.EncodeToString(key)
	f.IV = base64.RawStdEncoding.EncodeToString(iv[:])
	f.Hashes.SHA256 = base64.RawStdEncoding.EncodeToString(sum[:])
	return ciphertext, f
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecryptReaderRoundTrip(t *testing.T) {
	iv := [16]byte{9, 8, 7, 6, 5, 4, 3, 2}
	for _, size := range []int{0, 1, 15, 16, 17, 1000, 1 << 20} {
		plaintext := randomBytes(t, size)
		ciphertext, f := encryptWithStdlib(t, plaintext, iv)
		readers := map[string]io.Reader{
			"whole":    bytes.NewReader(ciphertext),
			"one byte": iotest.OneByteReader(bytes.NewReader(ciphertext)),
			"data+EOF": iotest.DataErrReader(bytes.NewReader(ciphertext)),
			"half":     iotest.HalfReader(bytes.NewReader(ciphertext)),
		}
		for name, r := range readers {
			got, err := io.ReadAll(NewDecryptReader(r, f))
			if err != nil {
				t.Fatalf("size %d, %s: %v", size, name, err)
			}
			if !bytes.Equal(got, plaintext) {
				t.Fatalf("size %d, %s: plaintext differs", size, name)
			}
		}
	}
}

func TestDecryptReaderHashMismatchAtEOF(t *testing.T) {
	plaintext := randomBytes(t, 4096)
	ciphertext, f := encryptWithStdlib(t, plaintext, [16]byte{1})

	tampered := bytes.Clone(ciphertext)
	tampered[len(tampered)/2] ^= 1
	truncated := ciphertext[:len(ciphertext)-1]
	extended := append(bytes.Clone(ciphertext), 0)
	for name, c := range map[string][]byte{"tampered": tampered, "truncated": truncated, "extended": extended, "empty": nil} {
		r := NewDecryptReader(iotest.DataErrReader(bytes.NewReader(c)), f)
		_, err := io.ReadAll(r)
		if !errors.Is(err, ErrFailedToDecrypt) {
			t.Fatalf("%s: ReadAll error %v, want ErrFailedToDecrypt", name, err)
		}
		if n, err2 := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err2, ErrFailedToDecrypt) {
			t.Fatalf("%s: the failure is not sticky: %d %v", name, n, err2)
		}
	}
	// The same failure reaches a consumer that reads with io.Copy.
	_, err := io.Copy(io.Discard, NewDecryptReader(bytes.NewReader(tampered), f))
	if !errors.Is(err, ErrFailedToDecrypt) {
		t.Fatalf("io.Copy: %v", err)
	}
}

func TestDecryptReaderInvalidFile(t *testing.T) {
	f := validFile()
	f.Key.Alg = "A128CTR"
	n, err := NewDecryptReader(bytes.NewReader([]byte("abc")), f).Read(make([]byte, 3))
	if n != 0 || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Read = %d, %v; want ErrMalformed", n, err)
	}
}

func TestDecryptReaderPassesSourceErrors(t *testing.T) {
	boom := errors.New("storage went away")
	_, f := encryptWithStdlib(t, []byte("x"), [16]byte{})
	src := io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom))
	_, err := io.ReadAll(NewDecryptReader(src, f))
	if !errors.Is(err, boom) || errors.Is(err, ErrFailedToDecrypt) {
		t.Fatalf("error %v, want the source's", err)
	}
}

// TestDecryptReaderCounterWrap: an IV whose low 64 bits wrap within the file
// decrypts differently in browsers (64-bit counter) and elsewhere (128-bit),
// so the reader must stop before the first byte where they differ.
func TestDecryptReaderCounterWrap(t *testing.T) {
	var iv [16]byte
	copy(iv[:8], "prefix!!")
	binary.BigEndian.PutUint64(iv[8:], ^uint64(0)-1) // two blocks before the wrap
	plaintext := randomBytes(t, 3*16)
	ciphertext, f := encryptWithStdlib(t, plaintext, iv)

	r := NewDecryptReader(bytes.NewReader(ciphertext[:32]), f)
	buf := make([]byte, 32)
	if n, err := io.ReadFull(r, buf); n != 32 || err != nil || !bytes.Equal(buf, plaintext[:32]) {
		t.Fatalf("the two blocks before the wrap: %d %v", n, err)
	}
	_, err := io.ReadAll(NewDecryptReader(bytes.NewReader(ciphertext), f))
	if !errors.Is(err, ErrFailedToDecrypt) {
		t.Fatalf("crossing the wrap: %v", err)
	}
	// An honest IV (counter 0) has no limit; a counter of 1 allows 2^64-1 blocks.
	if counterLimit([16]byte{1, 2, 3}) != 0 {
		t.Fatal("counter 0 must have no limit")
	}
	var one [16]byte
	one[15] = 1
	if counterLimit(one) != 0 {
		t.Fatal("counter 1 must have no reachable limit")
	}
}

func TestVerifyCiphertextHash(t *testing.T) {
	ciphertext, f := encryptWithStdlib(t, []byte("some plaintext"), [16]byte{})
	sum := sha256.Sum256(ciphertext)
	recorded := hex.EncodeToString(sum[:])
	if err := VerifyCiphertextHash(recorded, f); err != nil {
		t.Fatalf("matching hash: %v", err)
	}
	padded := f
	padded.Hashes.SHA256 = padStd(f.Hashes.SHA256)
	if err := VerifyCiphertextHash(recorded, padded); err != nil {
		t.Fatalf("padded hash: %v", err)
	}
	other := sha256.Sum256([]byte("other"))
	if err := VerifyCiphertextHash(hex.EncodeToString(other[:]), f); !errors.Is(err, ErrFailedToDecrypt) {
		t.Fatalf("other hash: %v", err)
	}
	bad := f
	bad.Hashes.SHA256 = "nope"
	if err := VerifyCiphertextHash(recorded, bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("undecodable hashes.sha256: %v", err)
	}
	for _, rec := range []string{"", recorded[:62], recorded + "00", "zz" + recorded[2:]} {
		err := VerifyCiphertextHash(rec, f)
		if err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrFailedToDecrypt) {
			t.Fatalf("recorded %q: %v, want a server-side error", rec, err)
		}
	}
}

func TestEncryptReader(t *testing.T) {
	plaintext := randomBytes(t, 100_000)
	r, err := NewEncryptReader(bytes.NewReader(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.File("mxc://example.org/x"); err == nil {
		t.Fatal("File before EOF must fail")
	}
	ciphertext, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.File("mxc://example.org/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Validate(); err != nil {
		t.Fatalf("EncryptReader made an invalid file: %v", err)
	}
	iv, _ := base64.RawStdEncoding.DecodeString(f.IV)
	if !bytes.Equal(iv[8:], make([]byte, 8)) {
		t.Fatalf("counter half of the IV is not zero: %x", iv)
	}
	if bytes.Equal(ciphertext[:64], plaintext[:64]) {
		t.Fatal("ciphertext equals plaintext")
	}
	got, err := io.ReadAll(NewDecryptReader(bytes.NewReader(ciphertext), f))
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("decrypt: %v", err)
	}
	c2, f2, err := EncryptAttachment(plaintext, "mxc://example.org/y")
	if err != nil || f2.KeyDigest() == f.KeyDigest() || bytes.Equal(c2, ciphertext) {
		t.Fatalf("a second encryption must use a fresh key: %v", err)
	}
}

// BenchmarkDecryptReader measures the streaming decryption (AES-256-CTR and
// the SHA-256 of the ciphertext) in 64 KiB reads, as a scanner would read,
// next to its two parts alone for reference.
func BenchmarkDecryptReader(b *testing.B) {
	const size = 64 << 20
	plaintext := make([]byte, size)
	iv := [16]byte{1, 2, 3, 4, 5, 6, 7, 8}
	ciphertext, f := encryptWithStdlib(b, plaintext, iv)
	buf := make([]byte, 64<<10)
	run := func(b *testing.B, newReader func() io.Reader) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.CopyBuffer(io.Discard, onlyReader{newReader()}, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("reader", func(b *testing.B) {
		run(b, func() io.Reader { return NewDecryptReader(bytes.NewReader(ciphertext), f) })
	})
	b.Run("aes-ctr-only", func(b *testing.B) {
		key, _ := base64.RawURLEncoding.DecodeString(f.Key.K)
		block, _ := aes.NewCipher(key)
		run(b, func() io.Reader {
			return cipher.StreamReader{S: cipher.NewCTR(block, iv[:]), R: bytes.NewReader(ciphertext)}
		})
	})
	b.Run("sha256-only", func(b *testing.B) {
		run(b, func() io.Reader { return io.TeeReader(bytes.NewReader(ciphertext), sha256.New()) })
	})
}

// onlyReader hides WriterTo/ReaderFrom so CopyBuffer uses buf.
type onlyReader struct{ io.Reader }
