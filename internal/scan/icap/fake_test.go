package icap_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeService is a scripted ICAP server for the answers that real c-icap
// cannot be made to give on cue (506, early 204, vendor headers). It
// speaks the protocol for real: OPTIONS, previews, 100 Continue, chunked
// bodies and keep-alive.
type fakeService struct {
	t        *testing.T
	ln       net.Listener
	options  string // extra OPTIONS headers
	istag    atomic.Value
	conns    atomic.Int32
	requests atomic.Int32
	// afterPreview, when set, answers right after the preview (return ""
	// to send 100 Continue and read the rest).
	afterPreview func(preview []byte, ieof bool) string
	// answer answers the whole request: its method and the content.
	answer func(method string, body []byte) string
	wg     sync.WaitGroup
}

func newFake(t *testing.T, options string, answer func(method string, body []byte) string) *fakeService {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeService{t: t, ln: ln, options: options, answer: answer}
	f.istag.Store("fake-1")
	f.wg.Go(f.serve)
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeService) url() string { return "icap://" + f.ln.Addr().String() + "/scan" }

func (f *fakeService) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.conns.Add(1)
		f.wg.Go(func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for f.handle(br, c) {
			}
		})
	}
}

// handle serves one request; false ends the connection.
func (f *fakeService) handle(br *bufio.Reader, w io.Writer) bool {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return false
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return false
	}
	f.requests.Add(1)
	method, _, _ := strings.Cut(line, " ")
	tag := f.istag.Load().(string)
	if method == "OPTIONS" {
		methods := "Methods: RESPMOD, REQMOD\r\n"
		if strings.Contains(f.options, "Methods:") {
			methods = ""
		}
		fmt.Fprintf(w, "ICAP/1.0 200 OK\r\n%sISTag: \"%s\"\r\nService: Fake-AV/2.1 test\r\n%sEncapsulated: null-body=0\r\n\r\n", methods, tag, f.options)
		return true
	}
	// Encapsulated headers up to the body offset.
	enc := h.Get("Encapsulated")
	i := strings.LastIndex(enc, "=")
	off, err := strconv.Atoi(enc[i+1:])
	if err != nil {
		return false
	}
	if _, err := io.CopyN(io.Discard, br, int64(off)); err != nil {
		return false
	}
	body, ieof, err := readChunks(br)
	if err != nil {
		return false
	}
	if h.Get("Preview") != "" {
		if f.afterPreview != nil {
			if a := f.afterPreview(body, ieof); a != "" {
				io.WriteString(w, strings.ReplaceAll(a, "@TAG@", tag))
				return true
			}
		}
		if !ieof {
			io.WriteString(w, "ICAP/1.0 100 Continue\r\n\r\n")
			rest, _, err := readChunks(br)
			if err != nil {
				return false
			}
			body = append(body, rest...)
		}
	}
	a := f.answer(method, body)
	io.WriteString(w, strings.ReplaceAll(a, "@TAG@", tag))
	return !strings.Contains(a, "Connection: close")
}

// readChunks reads a chunked body to its last chunk.
func readChunks(br *bufio.Reader) ([]byte, bool, error) {
	var body []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, false, err
		}
		line = strings.TrimRight(line, "\r\n")
		size, ext, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil {
			return nil, false, err
		}
		if n == 0 {
			if _, err := br.ReadString('\n'); err != nil {
				return nil, false, err
			}
			return body, strings.TrimSpace(ext) == "ieof", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, false, err
		}
		body = append(body, buf[:n]...)
	}
}

// echo answers 200 with the content in a 200 response (RESPMOD) or the
// request (REQMOD), changed by change.
func echo(method string, body []byte, change func([]byte) []byte) string {
	if change != nil {
		body = change(bytes.Clone(body))
	}
	hdr := "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
	if method == "REQMOD" {
		hdr = "POST /x HTTP/1.1\r\nHost: x\r\n\r\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ICAP/1.0 200 OK\r\nISTag: \"@TAG@\"\r\nEncapsulated: %s=0, %s=%d\r\n\r\n%s",
		map[bool]string{true: "req-hdr", false: "res-hdr"}[method == "REQMOD"],
		map[bool]string{true: "req-body", false: "res-body"}[method == "REQMOD"], len(hdr), hdr)
	for len(body) > 0 {
		n := min(len(body), 1000)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}
