package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// parseRange interprets a Range header against size. It supports one
// range ("bytes=a-b", "bytes=a-", "bytes=-n"); several ranges or another
// unit are ignored (the whole content is served, which RFC 9110 allows).
// A range that starts at or past the end is ErrRangeNotSatisfiable.
func parseRange(header string, size int64) (off, length int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if header == "" || !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	unsatisfiable := fmt.Errorf("%w: %s of %d bytes", ErrRangeNotSatisfiable, header, size)
	if first == "" { // suffix: the last n bytes
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n < 0 {
			return 0, size, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, unsatisfiable
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	start, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || start < 0 {
		return 0, size, false, nil
	}
	end := size - 1
	if last != "" {
		e, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || e < start {
			return 0, size, false, nil
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, false, unsatisfiable
	}
	return start, end - start + 1, true, nil
}

// etagMatch reports whether an If-None-Match header names the ETag of
// content with this SHA-256 (or is "*").
func etagMatch(header, sha string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == `"`+sha+`"` {
			return true
		}
	}
	return false
}

// writeStall is how long one write to a client may block: a per-request
// deadline instead of a global WriteTimeout, which would cut large
// downloads and long-polls.
const writeStall = 60 * time.Second

// copyChunk is the largest chunk copyWithDeadlines writes at once.
const copyChunk = 256 << 10

// pooledAbove is the content length above which the copy buffer is a
// copyChunk one; content up to it is copied through a smallCopy buffer.
const pooledAbove = 32 << 10

// copyBuffers holds copy buffers between downloads. Allocating (and
// zeroing) 256 KiB per large download made the garbage collector one of
// the largest costs of 1 MB downloads on S3 (15 % of the process's CPU in
// the issue 18 profile); a buffer of the content's size per small
// download was still the largest allocation of 10 KB downloads.
type copyBuffers struct{ large, small sync.Pool }

func (c *copyBuffers) get() *[copyChunk]byte {
	if b, ok := c.large.Get().(*[copyChunk]byte); ok {
		return b
	}
	return new([copyChunk]byte)
}

func (c *copyBuffers) put(b *[copyChunk]byte) { c.large.Put(b) }

func (c *copyBuffers) getSmall() *[pooledAbove]byte {
	if b, ok := c.small.Get().(*[pooledAbove]byte); ok {
		return b
	}
	return new([pooledAbove]byte)
}

// copyWithDeadlines streams src, of about length bytes, to w in chunks of
// at most 256 KiB, extending the write deadline before each chunk. Small
// content goes through a pooled 32 KiB buffer; larger content is handed to src's
// WriteTo when it has one (the sealed store's pipelined reader writes
// each chunk from the buffer it decrypted it into), else goes through a
// pooled 256 KiB buffer.
func (c *copyBuffers) copyWithDeadlines(w http.ResponseWriter, src io.Reader, length int64) error {
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w)}
	var buf []byte
	if length > pooledAbove {
		if wt, ok := src.(io.WriterTo); ok {
			_, err := wt.WriteTo(dw)
			return err
		}
		pooled := c.get()
		defer c.put(pooled)
		buf = pooled[:]
	} else {
		small := c.getSmall()
		defer c.small.Put(small)
		buf = small[:]
	}
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := dw.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// deadlineWriter extends the write deadline by writeStall before each
// write of at most copyChunk bytes.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		m := min(len(p), copyChunk)
		_ = d.rc.SetWriteDeadline(time.Now().Add(writeStall)) // not every writer supports deadlines
		k, err := d.w.Write(p[:m])
		n += k
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}
