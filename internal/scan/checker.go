package scan

import (
	"context"
	"errors"
	"io"
)

// Checker runs the archive inspection and the engine on one piece of
// content that can be read at random (io.ReaderAt): the worker gets one
// from the blob store's ranged reads. It is the production path from
// content to verdict; a consumer may narrow it to its own interface.
type Checker struct {
	// Inspector checks zip archives; nil skips the inspection.
	Inspector *ArchiveInspector
	// Scanner is the engine.
	Scanner Scanner
}

// Inspection names the inspection's code revision and limits, for
// ReuseBasis: a verdict made under other limits is not reused.
func (c *Checker) Inspection() string {
	if c.Inspector == nil {
		return "no inspection"
	}
	return c.Inspector.Fingerprint()
}

// ScanAt inspects r (size bytes), then streams it to the engine, and
// returns the stronger of the two answers: infected (engine) before
// unscannable (inspection or engine) before clean. The engine is asked
// even when the inspection refused the archive, so that known malware in
// a bomb is quarantined rather than only blocked. Errors are as for
// Scanner.Scan; an inspection that could not read r fails the same way.
func (c *Checker) ScanAt(ctx context.Context, r io.ReaderAt, size int64) (Verdict, error) {
	var refused *ArchiveError
	if c.Inspector != nil {
		err := c.Inspector.Inspect(ctx, r, size)
		if err != nil && !errors.As(err, &refused) {
			return Verdict{}, err
		}
	}
	v, err := c.Scanner.Scan(ctx, io.NewSectionReader(r, 0, size))
	if err != nil {
		return Verdict{}, err
	}
	switch {
	case refused == nil || v.Result == ResultInfected:
	case v.Result == ResultUnscannable:
		v.Reason = refused.Error() + "; " + v.Reason
	default:
		v.Result, v.Signature, v.Reason = ResultUnscannable, "", refused.Error()
	}
	return v, nil
}
