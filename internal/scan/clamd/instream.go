package clamd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// replyAfterWriteError is how long Scan waits for clamd's reply after a
// write failed: clamd closes the connection after answering
// "INSTREAM size limit exceeded", which the writer sees as a broken pipe.
const replyAfterWriteError = 2 * time.Second

// maxReply bounds what Scan reads of clamd's reply.
const maxReply = 4096

// instream sends r to clamd with the INSTREAM command and returns the raw
// reply. It is written here rather than taken from baruwa-enterprise/clamd
// v1.0.1, whose stream loop loses data and context (see the package doc).
//
// The connection carries ctx's deadline, and cancelling ctx closes it, so a
// stalled clamd cannot hold the caller. Every Read of r that returns n > 0
// is sent, whatever error comes with it.
func (s *Scanner) instream(ctx context.Context, r io.Reader) (string, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return "", fmt.Errorf("%w: %w", scan.ErrUnavailable, err)
		}
	}
	stop := context.AfterFunc(ctx, func() {
		// Unblock any pending read or write on the connection.
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	defer stop()

	buf := make([]byte, 4+s.chunkSize)
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return "", s.connErr(ctx, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("clamd INSTREAM: %w", err)
		}
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, werr := conn.Write(buf[:4+n]); werr != nil {
				return s.replyAfterWriteError(ctx, conn, werr)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("clamd INSTREAM: reading the content: %w", rerr)
		}
	}
	if _, err := conn.Write([]byte{0, 0, 0, 0}); err != nil {
		return s.replyAfterWriteError(ctx, conn, err)
	}
	return s.readReply(ctx, conn)
}

// replyAfterWriteError reads the reply clamd sent before it closed the
// connection (the size limit), or reports the write error.
func (s *Scanner) replyAfterWriteError(ctx context.Context, conn net.Conn, werr error) (string, error) {
	if ctx.Err() != nil {
		return "", s.connErr(ctx, werr)
	}
	deadline := time.Now().Add(replyAfterWriteError)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetReadDeadline(deadline)
	reply, err := s.readReply(ctx, conn)
	if err != nil || reply == "" {
		return "", s.connErr(ctx, werr)
	}
	return reply, nil
}

// readReply reads one NUL-terminated reply (or up to EOF).
func (s *Scanner) readReply(ctx context.Context, conn net.Conn) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(conn, maxReply), 256)
	line, err := br.ReadString(0)
	if err == io.EOF && line != "" {
		err = nil
	}
	if err != nil {
		return "", s.connErr(ctx, err)
	}
	return line, nil
}

// connErr classifies a connection error: the caller's cancellation or
// deadline wraps ctx.Err(); everything else, including a deadline set on
// the connection, wraps scan.ErrUnavailable.
func (s *Scanner) connErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: clamd %s: %w (%v)", scan.ErrUnavailable, s.address, cerr, err)
		}
		return fmt.Errorf("clamd %s: %w (%v)", s.address, cerr, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: clamd %s: %w", scan.ErrUnavailable, s.address, context.DeadlineExceeded)
	}
	return fmt.Errorf("%w: clamd %s: %w", scan.ErrUnavailable, s.address, err)
}
