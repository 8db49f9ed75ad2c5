package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/h2non/filetype"

	"github.com/mediarepo/mediarepo/internal/media"
)

// sniffLen is how many leading bytes the type sniffer and the entropy
// estimate look at (filetype needs 262).
const sniffLen = 8192

// ingest is the single pass over an upload body: it enforces the size
// limit, hashes, keeps the first bytes for sniffing and, once they are in,
// applies the type policy — all while the bytes stream into the sealed
// store. An error from Read makes the store's Put fail, so a refused upload
// leaves nothing behind.
type ingest struct {
	r       io.Reader
	limit   int64
	policy  *TypePolicy
	hash    hash.Hash
	n       int64
	head    []byte
	sniffed string
	checked bool
	failed  bool // a Read returned an error other than io.EOF
}

// newIngest reads r, whose declared length is size (-1: unknown). The
// head's buffer is only as large as the declared body: most uploads are
// far smaller than checkLen, and a 64 KiB buffer cleared for each was a
// visible part of small uploads' allocations and CPU (issue 18).
func newIngest(r io.Reader, size, limit int64, policy *TypePolicy) *ingest {
	headCap := int64(checkLen)
	if size >= 0 && size < headCap {
		headCap = size
	}
	return &ingest{r: r, limit: limit, policy: policy, hash: sha256.New(), head: make([]byte, 0, headCap)}
}

// Read implements io.Reader and remembers that the body failed (a read
// error, too large, a forbidden type): a put that failed for its body
// never stored a whole object.
func (in *ingest) Read(p []byte) (int, error) {
	n, err := in.read(p)
	if err != nil && err != io.EOF {
		in.failed = true
	}
	return n, err
}

func (in *ingest) read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	if n > 0 {
		in.n += int64(n)
		if in.n > in.limit {
			return 0, fmt.Errorf("%w: more than %d bytes", media.ErrTooLarge, in.limit)
		}
		in.hash.Write(p[:n])
		if len(in.head) < checkLen {
			in.head = append(in.head, p[:min(n, checkLen-len(in.head))]...)
		}
		if !in.checked && len(in.head) >= sniffLen {
			if perr := in.check(); perr != nil {
				return 0, perr
			}
		}
	}
	if err == io.EOF && !in.checked {
		if perr := in.check(); perr != nil {
			return 0, perr
		}
	}
	return n, err
}

// check sniffs the first bytes and applies the type policy once.
func (in *ingest) check() error {
	in.checked = true
	in.sniffed = sniff(in.sniffHead())
	if in.policy.Blocked(in.sniffed) {
		return fmt.Errorf("%w: content sniffed as %s", media.ErrTypeForbidden, in.sniffed)
	}
	return nil
}

// sniffHead returns the first sniffLen bytes (what the sniffer and the
// entropy estimate look at); head holds up to checkLen for typeCheck.
func (in *ingest) sniffHead() []byte { return in.head[:min(len(in.head), sniffLen)] }

// sum returns the hex SHA-256 of what was read.
func (in *ingest) sum() string { return hex.EncodeToString(in.hash.Sum(nil)) }

// sniff returns the MIME type the first bytes show, or "" when unknown.
// Printable UTF-8 is "text/plain": ciphertext practically never is, so
// short text is not mistaken for it.
func sniff(head []byte) string {
	kind, err := filetype.Match(head)
	if err == nil && kind != filetype.Unknown {
		return kind.MIME.Value
	}
	if looksText(head) {
		return "text/plain"
	}
	return ""
}

// looksText reports whether b is printable UTF-8 (tabs and line breaks
// allowed), tolerating a rune cut at the end of the sniffed head.
func looksText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i] // the head ends inside this rune
			}
			break
		}
	}
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			return false
		}
	}
	return true
}

// entropy estimates the Shannon entropy of b in bits per byte (0..8).
// Ciphertext (E2EE attachments) is close to 8.
func entropy(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(b))
			h -= p * math.Log2(p)
		}
	}
	return math.Round(h*1000) / 1000
}

// TypePolicy refuses uploads by MIME type (declared or sniffed).
type TypePolicy struct {
	exact    map[string]bool
	families []string
}

// NewTypePolicy builds a policy from patterns: exact types
// ("application/x-msdownload") or families ("video/*").
func NewTypePolicy(blocked []string) *TypePolicy {
	p := &TypePolicy{exact: map[string]bool{}}
	for _, t := range blocked {
		t = strings.ToLower(strings.TrimSpace(t))
		if fam, ok := strings.CutSuffix(t, "/*"); ok {
			p.families = append(p.families, fam+"/")
		} else {
			p.exact[t] = true
		}
	}
	return p
}

// Blocked reports whether contentType (parameters ignored) is refused.
func (p *TypePolicy) Blocked(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(contentType)
	}
	if p.exact[mt] {
		return true
	}
	for _, f := range p.families {
		if strings.HasPrefix(mt, f) {
			return true
		}
	}
	return false
}
