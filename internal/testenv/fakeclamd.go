package testenv

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// FakeClamd speaks the part of clamd's protocol that mediarepo uses
// (PING, VERSION, INSTREAM) and can do what the real clamd cannot be made
// to do on cue: reload its signature database in the middle of a scan.
// Every stream it receives is answered "stream: OK". Use the real clamd
// (ClamdAddr, StartClamd) for everything else.
type FakeClamd struct {
	ln net.Listener

	mu      sync.Mutex
	version string
	reload  string // the version to switch to while the next stream is read
	scans   int
	hold    chan struct{} // non-nil: answers wait until it is closed
	held    int
}

// StartFakeClamd listens on a loopback port until the test ends; VERSION
// answers version (clamd's notation: "ClamAV 1.4.6/27000/Mon Dec  7 10:00:00 2026").
func StartFakeClamd(t testing.TB, version string) *FakeClamd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &FakeClamd{ln: ln, version: version}
	t.Cleanup(func() { ln.Close() })
	go f.serve()
	return f
}

// Addr is the scanner address ("tcp://127.0.0.1:port").
func (f *FakeClamd) Addr() string { return "tcp://" + f.ln.Addr().String() }

// SetVersion changes what VERSION answers from now on.
func (f *FakeClamd) SetVersion(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version = v
}

// ReloadDuringNextScan makes the next INSTREAM switch the version to v
// after its first chunk arrived and before it answers: a database reload
// in the middle of the scan.
func (f *FakeClamd) ReloadDuringNextScan(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reload = v
}

// Hold makes every stream wait for Release before it is answered.
func (f *FakeClamd) Hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold = make(chan struct{})
}

// Release answers the held streams and stops holding.
func (f *FakeClamd) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hold != nil {
		close(f.hold)
		f.hold = nil
	}
}

// Held returns how many streams are read to their end and wait for
// Release: the scans running at once.
func (f *FakeClamd) Held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

// Scans returns how many streams were answered.
func (f *FakeClamd) Scans() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scans
}

// serveConns hands every connection accepted on ln to handle, each in its
// own goroutine, until ln is closed.
func serveConns(ln net.Listener, handle func(net.Conn)) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go handle(conn)
	}
}

// clamdCommand is one command read from a clamd client: its prefix ('z'
// or 'n'), the delimiter that ends it and the answers (NUL or newline),
// its name, and the reader holding what follows (INSTREAM chunks).
type clamdCommand struct {
	br     *bufio.Reader
	prefix byte
	delim  byte
	raw    string // the command as read, delimiter included
}

// name is the command without its delimiter ("PING", "INSTREAM").
func (c clamdCommand) name() string { return strings.TrimRight(c.raw, "\x00\n") }

// readClamdCommand reads the command a clamd client sends first.
func readClamdCommand(conn net.Conn) (clamdCommand, bool) {
	c := clamdCommand{br: bufio.NewReader(conn), delim: '\n'}
	var err error
	if c.prefix, err = c.br.ReadByte(); err != nil {
		return c, false
	}
	if c.prefix == 'z' {
		c.delim = 0
	}
	c.raw, err = c.br.ReadString(c.delim)
	return c, err == nil
}

func (f *FakeClamd) serve() { serveConns(f.ln, f.handle) }

func (f *FakeClamd) handle(conn net.Conn) {
	defer conn.Close()
	c, ok := readClamdCommand(conn)
	if !ok {
		return
	}
	br, delim := c.br, c.delim
	switch c.name() {
	case "PING":
		conn.Write([]byte("PONG" + string(delim)))
	case "VERSION":
		f.mu.Lock()
		v := f.version
		f.mu.Unlock()
		conn.Write([]byte(v + string(delim)))
	case "INSTREAM":
		if f.stream(br) {
			conn.Write([]byte("stream: OK" + string(delim)))
		}
	}
}

// stream reads INSTREAM chunks to the zero-length one.
func (f *FakeClamd) stream(r io.Reader) bool {
	var size [4]byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return false
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			f.mu.Lock()
			hold := f.hold
			f.held++
			f.mu.Unlock()
			if hold != nil {
				<-hold
			}
			f.mu.Lock()
			f.held--
			f.scans++
			f.mu.Unlock()
			return true
		}
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return false
		}
		if first {
			f.mu.Lock()
			if f.reload != "" {
				f.version, f.reload = f.reload, ""
			}
			f.mu.Unlock()
		}
	}
}
