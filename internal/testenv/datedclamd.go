package testenv

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// DatedClamd puts a signature database version on a real clamd. The test
// signature database carries none (clamd answers VERSION with "ClamAV
// 1.4.6" alone), and what depends on the version — verdict reuse, the
// rescan after a signature update — cannot see it change. DatedClamd
// listens on its own port, answers VERSION with a version the test sets
// (clamd's notation, "ClamAV 1.4.6/27000/Mon Dec  7 10:00:00 2026"), and
// passes every other command (PING, INSTREAM) byte for byte to the real
// clamd behind it: every verdict is the real clamd's, with its real
// database (add signatures with StartClamdOwnDB and AddSignature).
type DatedClamd struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	version string
}

// StartDatedClamd starts the proxy in front of c until the test ends.
func StartDatedClamd(t testing.TB, c *Clamd, version string) *DatedClamd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &DatedClamd{ln: ln, upstream: fmt.Sprintf("127.0.0.1:%d", c.port), version: version}
	t.Cleanup(func() { ln.Close() })
	go d.serve()
	return d
}

// Addr is the scanner address ("tcp://127.0.0.1:port").
func (d *DatedClamd) Addr() string { return "tcp://" + d.ln.Addr().String() }

// SetVersion changes what VERSION answers from now on.
func (d *DatedClamd) SetVersion(v string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.version = v
}

func (d *DatedClamd) serve() { serveConns(d.ln, d.handle) }

func (d *DatedClamd) handle(conn net.Conn) {
	defer conn.Close()
	c, ok := readClamdCommand(conn)
	if !ok {
		return
	}
	if c.name() == "VERSION" {
		d.mu.Lock()
		v := d.version
		d.mu.Unlock()
		conn.Write([]byte(v + string(c.delim)))
		return
	}
	up, err := net.DialTimeout("tcp", d.upstream, 5*time.Second)
	if err != nil {
		return // the client sees the connection close: clamd unavailable
	}
	defer up.Close()
	if _, err := up.Write(append([]byte{c.prefix}, c.raw...)); err != nil {
		return
	}
	go func() {
		_, _ = io.Copy(up, c.br) // the rest of the command (INSTREAM chunks)
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, _ = io.Copy(conn, up) // clamd answers, then closes
}
