package icap

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
)

// Limits on what the client reads from a service.
const (
	maxBodyRead = 64 << 20 // an answer's body (blocked page or echoed content) is hashed, never kept
	maxLine     = 8 << 10
)

var errProtocol = errors.New("ICAP protocol error")

// response is an ICAP answer: its status and headers, and the
// encapsulated HTTP message (status line, headers), if any.
type response struct {
	status int
	reason string
	header textproto.MIMEHeader

	// The encapsulated HTTP message.
	httpStart  string // "HTTP/1.1 200 OK" or "POST /x HTTP/1.1"
	httpHeader textproto.MIMEHeader
	hasBody    bool

	br *bufio.Reader
}

// readResponse reads one answer's ICAP headers and its encapsulated HTTP
// headers; the body, if any, is left for readBody or discardBody.
func readResponse(br *bufio.Reader) (*response, error) {
	tp := textproto.NewReader(br)
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || proto != "ICAP/1.0" {
		return nil, fmt.Errorf("%w: status line %q", errProtocol, clip(line))
	}
	code, reason, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil || status < 100 || status > 999 {
		return nil, fmt.Errorf("%w: status line %q", errProtocol, clip(line))
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("%w: headers: %w", errProtocol, err)
	}
	r := &response{status: status, reason: reason, header: h, br: br}
	if status == 100 {
		return r, nil
	}
	enc, err := parseEncapsulated(h.Get("Encapsulated"))
	if err != nil {
		return nil, err
	}
	for _, part := range enc {
		switch part {
		case "req-hdr", "res-hdr":
			start, err := readLine(br)
			if err != nil {
				return nil, err
			}
			hh, err := tp.ReadMIMEHeader()
			if err != nil {
				return nil, fmt.Errorf("%w: encapsulated headers: %w", errProtocol, err)
			}
			// In a REQMOD answer with both, the response is what counts.
			if r.httpStart == "" || part == "res-hdr" {
				r.httpStart, r.httpHeader = start, hh
			}
		case "req-body", "res-body", "opt-body":
			r.hasBody = true
		}
	}
	return r, nil
}

// parseEncapsulated returns the parts named in an Encapsulated header in
// order ("res-hdr=0, res-body=161" → res-hdr, res-body; none for an
// empty or missing header), checking that
// the offsets grow and that at most one body part comes last.
func parseEncapsulated(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil // c-icap's 204 and error answers carry none: nothing encapsulated
	}
	var parts []string
	last := -1
	for item := range strings.SplitSeq(v, ",") {
		name, off, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.Atoi(off)
		if !ok || err != nil || n < 0 || n < last {
			return nil, fmt.Errorf("%w: Encapsulated %q", errProtocol, clip(v))
		}
		switch name {
		case "req-hdr", "res-hdr":
			if len(parts) > 0 && strings.HasSuffix(parts[len(parts)-1], "body") {
				return nil, fmt.Errorf("%w: Encapsulated %q", errProtocol, clip(v))
			}
		case "req-body", "res-body", "opt-body", "null-body":
		default:
			return nil, fmt.Errorf("%w: Encapsulated %q", errProtocol, clip(v))
		}
		last = n
		parts = append(parts, name)
	}
	return parts, nil
}

// keepAlive reports whether the connection may carry another request.
func (r *response) keepAlive() bool {
	return !strings.EqualFold(strings.TrimSpace(r.header.Get("Connection")), "close")
}

// httpStatus is the status code of an encapsulated HTTP response, 0 for
// none (or an encapsulated request).
func (r *response) httpStatus() int {
	proto, rest, ok := strings.Cut(r.httpStart, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/") {
		return 0
	}
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if err != nil {
		return 0
	}
	return n
}

// bodyDigest reads the encapsulated body to its end and returns its size
// and SHA-256 (those of empty content without a body).
func (r *response) bodyDigest() (int64, []byte, error) {
	h := sha256.New()
	if !r.hasBody {
		return 0, h.Sum(nil), nil
	}
	n, err := readChunked(r.br, h)
	if err != nil {
		return n, nil, err
	}
	return n, h.Sum(nil), nil
}

// discardBody reads the encapsulated body, if any, to its end.
func (r *response) discardBody() error {
	if !r.hasBody {
		return nil
	}
	_, err := readChunked(r.br, io.Discard)
	return err
}

// readChunked copies a chunked body to w (at most maxBodyRead bytes) and
// consumes the trailer.
func readChunked(br *bufio.Reader, w io.Writer) (int64, error) {
	var total int64
	for {
		line, err := readLine(br)
		if err != nil {
			return total, err
		}
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 {
			return total, fmt.Errorf("%w: chunk size %q", errProtocol, clip(line))
		}
		if n == 0 {
			for { // trailer lines up to the empty line
				l, err := readLine(br)
				if err != nil {
					return total, err
				}
				if l == "" {
					return total, nil
				}
			}
		}
		if total += n; total > maxBodyRead {
			return total, fmt.Errorf("%w: answer body over %d bytes", errProtocol, maxBodyRead)
		}
		if _, err := io.CopyN(w, br, n); err != nil {
			return total, err
		}
		if l, err := readLine(br); err != nil || l != "" {
			return total, fmt.Errorf("%w: chunk not followed by CRLF", errProtocol)
		}
	}
}

// readLine reads one CRLF (or LF) terminated line of at most maxLine bytes.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, isPrefix, err := br.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		b = append(b, frag...)
		if len(b) > maxLine {
			return "", fmt.Errorf("%w: line over %d bytes", errProtocol, maxLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
