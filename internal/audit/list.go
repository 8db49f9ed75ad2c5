package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Filter selects entries; zero fields match everything.
type Filter struct {
	// Actor, Action and Outcome match exactly.
	Actor, Action, Outcome string
	// Target matches as a substring (an mxc URI, a user ID, a hash).
	Target string
	// Since and Until bound At (inclusive, exclusive).
	Since, Until time.Time
	// Before is the cursor: only entries with a smaller sequence (0: from
	// the newest).
	Before uint64
	// Limit is the page size (default 50, at most 500).
	Limit int
}

// Match reports whether e passes the filter (the cursor aside).
func (f Filter) Match(e Entry) bool {
	switch {
	case f.Actor != "" && e.Actor != f.Actor,
		f.Action != "" && e.Action != f.Action,
		f.Outcome != "" && e.Outcome != f.Outcome,
		f.Target != "" && !strings.Contains(e.Target, f.Target),
		!f.Since.IsZero() && e.At.Before(f.Since),
		!f.Until.IsZero() && !e.At.Before(f.Until):
		return false
	}
	return true
}

// Page is one page of entries, newest first. Next is the cursor for the
// following (older) page, 0 when there is none.
type Page struct {
	Entries []Entry `json:"entries"`
	Next    uint64  `json:"next,omitempty"`
}

// List returns the newest entries matching f, older than f.Before. One
// call reads at most Options.MaxScan entries: a page may then hold fewer
// than Limit entries and still have a Next cursor to continue from.
func (l *Log) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	info, err := l.stream.Info(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("audit: stream info: %w", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if f.Before > 0 && f.Before-1 < last {
		last = f.Before - 1
	}
	page := Page{Entries: []Entry{}}
	scanned := 0
	for seq := last; seq >= first && seq > 0; seq-- {
		if scanned == l.opts.MaxScan {
			page.Next = seq + 1
			return page, nil
		}
		scanned++
		e, err := l.get(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return Page{}, err
		}
		if !f.Since.IsZero() && e.At.Before(f.Since.Add(-time.Minute)) {
			// Entries are appended in time order (give or take clock
			// differences between replicas): nothing older can match.
			return page, nil
		}
		if !f.Match(e) {
			continue
		}
		page.Entries = append(page.Entries, e)
		if len(page.Entries) == f.Limit {
			if seq > first {
				page.Next = seq
			}
			return page, nil
		}
	}
	return page, nil
}

// get reads one entry by sequence.
func (l *Log) get(ctx context.Context, seq uint64) (Entry, error) {
	m, err := l.stream.GetMsg(ctx, seq)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: read entry %d: %w", seq, err)
	}
	var e Entry
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return Entry{}, fmt.Errorf("audit: decode entry %d: %w", seq, err)
	}
	e.Seq = seq
	return e, nil
}
