package icap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// The encapsulated HTTP messages around the content. They name no media:
// the service needs a well-formed message, not our identifiers.
const (
	encReqGet  = "GET /_mediarepo/content HTTP/1.1\r\nHost: mediarepo.invalid\r\n\r\n"
	encReqPost = "POST /_mediarepo/content HTTP/1.1\r\nHost: mediarepo.invalid\r\nContent-Type: application/octet-stream\r\n\r\n"
	encRes     = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
)

// errTooLarge stops the writer at MaxSize.
var errTooLarge = errors.New("content over the configured max_size")

// sent is what the writer reports when it ends.
type sent struct {
	n      int64
	digest []byte
	all    bool // the whole content reached the service
	err    error
}

// scan runs one RESPMOD/REQMOD transaction. The writer streams the body
// in its own goroutine while this one reads the answer, so that a service
// that answers early (or stops reading) never deadlocks the scan.
func (s *Scanner) scan(ctx context.Context, opt options, r io.Reader) (scan.Verdict, error) {
	c, err := s.pool.get(ctx, s.dial)
	if err != nil {
		return scan.Verdict{}, err
	}
	stop := c.watch(ctx)
	defer stop()

	preview := opt.preview
	switch {
	case s.cfg.Preview < 0:
		preview = -1
	case s.cfg.Preview > 0 && (preview < 0 || s.cfg.Preview < preview):
		preview = s.cfg.Preview
	}
	preview = min(preview, maxPreview)

	proceed := make(chan bool, 1) // after the preview: send the rest?
	done := make(chan sent, 1)
	go func() {
		w := s.write(c, r, preview, opt.allow204, proceed)
		if w.err != nil {
			c.close() // the transaction is broken: end the read of the answer too
		}
		done <- w
	}()

	resp, err := readResponse(c.br)
	if err == nil && resp.status == 100 {
		if preview < 0 {
			err = fmt.Errorf("%w: 100 Continue without a preview", errProtocol)
		} else {
			proceed <- true
			resp, err = readResponse(c.br)
		}
	}
	select { // a writer waiting after the preview stops there
	case proceed <- false:
	default:
	}
	var (
		bodyN   int64
		bodySum []byte
	)
	if err == nil {
		bodyN, bodySum, err = resp.bodyDigest()
	}
	// The service answered: the writer either finished or is stuck on a
	// service that stopped reading; give it a moment, then cut it off.
	_ = c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	w := <-done
	var rerr *readerError
	switch {
	case errors.As(w.err, &rerr):
		c.close()
		return scan.Verdict{}, w.err
	case errors.Is(w.err, errTooLarge):
		c.close()
		return scan.Verdict{Result: scan.ResultUnscannable,
			Reason: fmt.Sprintf("larger than the ICAP engine's max_size (%d bytes)", s.cfg.MaxSize)}, nil
	case err != nil:
		c.close()
		if w.err != nil {
			return scan.Verdict{}, fmt.Errorf("%w (sending: %w)", err, w.err)
		}
		return scan.Verdict{}, err
	}
	keep := resp.keepAlive() && w.err == nil && w.all
	_ = c.conn.SetWriteDeadline(time.Time{})
	s.pool.put(c, keep)
	return s.verdict(opt, resp, w, bodyN, bodySum)
}

// write sends the request: headers, the preview (then waits for the
// reader's go-ahead), the rest of r in chunks, and the last chunk.
func (s *Scanner) write(c *conn, r io.Reader, preview int, allow204 bool, proceed <-chan bool) sent {
	bw := bufio.NewWriterSize(c.conn, DefaultChunkSize+32)
	cw := &chunkWriter{w: bw}
	sum := sha256.New()
	var total, sentN int64 // read from r; sent to the service
	send := func(p []byte) {
		sum.Write(p)
		sentN += int64(len(p))
		cw.chunk(p)
	}
	// out reports what was sent; all: the whole content.
	out := func(all bool, err error) sent {
		return sent{n: sentN, digest: sum.Sum(nil), all: all && err == nil, err: err}
	}

	var hdrs bytes.Buffer
	var encHdr string
	switch s.cfg.Method {
	case REQMOD:
		hdrs.WriteString(encReqPost)
		encHdr = "req-hdr=0, req-body=" + strconv.Itoa(len(encReqPost))
	default:
		hdrs.WriteString(encReqGet)
		hdrs.WriteString(encRes)
		encHdr = "req-hdr=0, res-hdr=" + strconv.Itoa(len(encReqGet)) + ", res-body=" + strconv.Itoa(len(encReqGet)+len(encRes))
	}
	head := string(s.cfg.Method) + " " + s.uri + " ICAP/1.0\r\nHost: " + s.host + "\r\nUser-Agent: mediarepo\r\n"
	if allow204 {
		head += "Allow: 204\r\n"
	}
	if preview >= 0 {
		head += "Preview: " + strconv.Itoa(preview) + "\r\n"
	}
	head += "Encapsulated: " + encHdr + "\r\n\r\n"
	if _, err := bw.WriteString(head); err != nil {
		return out(false, err)
	}
	if _, err := bw.Write(hdrs.Bytes()); err != nil {
		return out(false, err)
	}

	buf := make([]byte, DefaultChunkSize)
	// next reads up to len(p) bytes of content; eof reports its end.
	next := func(p []byte) (n int, eof bool, err error) {
		n, err = io.ReadFull(r, p)
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			eof, err = true, nil
		default:
			return n, false, &readerError{err}
		}
		if total += int64(n); s.cfg.MaxSize > 0 && total > s.cfg.MaxSize {
			return n, eof, errTooLarge
		}
		return n, eof, nil
	}

	if preview >= 0 {
		// Read one byte past the preview to know whether it is all.
		n, eof, err := next(buf[:preview+1])
		if err != nil {
			return out(false, err)
		}
		if eof {
			send(buf[:n])
			return out(true, cw.end(true))
		}
		send(buf[:preview])
		if err := cw.end(false); err != nil {
			return out(false, err)
		}
		if !<-proceed {
			return out(false, nil)
		}
		send(buf[preview:n])
	}
	for {
		n, eof, err := next(buf)
		if err != nil {
			return out(false, err)
		}
		send(buf[:n])
		if eof {
			break
		}
	}
	return out(true, cw.end(false))
}
