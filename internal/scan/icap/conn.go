package icap

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// conn is one connection to the service with its read buffer.
type conn struct {
	conn   net.Conn
	br     *bufio.Reader
	reused bool
	idleAt time.Time
}

// watch makes ctx's end interrupt every read and write on the connection
// (a deadline in the past); the returned stop undoes the hook and clears
// the deadline.
func (c *conn) watch(ctx context.Context) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(d)
	}
	after := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() {
		if after() {
			_ = c.conn.SetDeadline(time.Time{})
		}
	}
}

func (c *conn) close() { _ = c.conn.Close() }

// alive reports whether an idle connection is still usable: nothing to
// read (a pending byte or EOF means the service closed or misbehaved).
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.br.Peek(1)
	_ = c.conn.SetReadDeadline(time.Time{})
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// pool keeps idle connections for reuse, newest first.
type pool struct {
	max     int
	idleTTL time.Duration

	mu   sync.Mutex
	idle []*conn
}

func newPool(max int, idleTTL time.Duration) *pool {
	return &pool{max: max, idleTTL: idleTTL}
}

// get returns an idle connection that is still alive, or dials one.
func (p *pool) get(ctx context.Context, dial func(context.Context) (net.Conn, error)) (*conn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(c.idleAt) < p.idleTTL && c.alive() {
			c.reused = true
			return c, nil
		}
		c.close()
	}
	nc, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{conn: nc, br: bufio.NewReaderSize(nc, 16<<10)}, nil
}

// put returns c for reuse when keep is true, closes it otherwise.
func (p *pool) put(c *conn, keep bool) {
	if !keep {
		c.close()
		return
	}
	c.idleAt = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= p.max {
		c.close()
		return
	}
	p.idle = append(p.idle, c)
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// chunkWriter writes ICAP's chunked body encoding.
type chunkWriter struct {
	w   *bufio.Writer
	err error
}

func (cw *chunkWriter) chunk(p []byte) {
	if cw.err != nil || len(p) == 0 {
		return
	}
	if _, cw.err = cw.w.WriteString(strconv.FormatInt(int64(len(p)), 16) + "\r\n"); cw.err != nil {
		return
	}
	if _, cw.err = cw.w.Write(p); cw.err != nil {
		return
	}
	_, cw.err = cw.w.WriteString("\r\n")
}

// end writes the last chunk ("0; ieof" when the whole body was in the
// preview) and flushes.
func (cw *chunkWriter) end(ieof bool) error {
	if cw.err != nil {
		return cw.err
	}
	last := "0\r\n\r\n"
	if ieof {
		last = "0; ieof\r\n\r\n"
	}
	if _, cw.err = cw.w.WriteString(last); cw.err != nil {
		return cw.err
	}
	cw.err = cw.w.Flush()
	return cw.err
}
