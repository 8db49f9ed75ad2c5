package review

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// ErrBadFilter means a list filter names an unknown state or its cursor
// was not one this package produced.
var ErrBadFilter = errors.New("review: invalid filter or cursor")

// Filter selects media for List; zero fields match everything.
type Filter struct {
	// States to list (default: quarantined and blocked).
	States []media.State
	// Since and Until bound the time of the record's last change
	// (inclusive, exclusive).
	Since, Until time.Time
	Uploader     string
	// Origin is the server name of the mxc URI.
	Origin string
	// Signature matches the verdict's signature as a case-insensitive
	// substring ("eicar").
	Signature string
	SHA256    string
	// Cursor continues a previous page (Page.Next).
	Cursor string
	// Limit is the page size (default 50, at most 500).
	Limit int
}

// Entry is a record with its catalog revision.
type Entry struct {
	Record   media.Record `json:"record"`
	Revision uint64       `json:"revision"`
}

// Page is one page of a listing, newest change first. Next is the cursor
// of the following page ("" at the end).
type Page struct {
	Items []Entry `json:"items"`
	Next  string  `json:"next,omitempty"`
}

// ChangedAt is the time of the record's last history event (its creation
// when it has none).
func ChangedAt(r media.Record) time.Time {
	if n := len(r.History); n > 0 {
		return r.History[n-1].At
	}
	return r.CreatedAt
}

// match reports whether the record passes the filter.
func (f Filter) match(r media.Record) bool {
	at := ChangedAt(r)
	sig := ""
	if r.Verdict != nil {
		sig = r.Verdict.Signature
	}
	switch {
	case !slices.Contains(f.States, r.State),
		!f.Since.IsZero() && at.Before(f.Since),
		!f.Until.IsZero() && !at.Before(f.Until),
		f.Uploader != "" && r.Uploader != f.Uploader,
		f.Origin != "" && r.Origin != f.Origin,
		f.SHA256 != "" && r.SHA256 != f.SHA256,
		f.Signature != "" && !strings.Contains(strings.ToLower(sig), strings.ToLower(f.Signature)):
		return false
	}
	return true
}

// cursor is the position after an item: its change time and mxc URI.
type cursor struct {
	at  time.Time
	mxc string
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.at.UnixNano(), 10) + "|" + c.mxc))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: %w", ErrBadFilter, err)
	}
	ns, mxc, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !strings.HasPrefix(mxc, "mxc://") {
		return cursor{}, ErrBadFilter
	}
	return cursor{at: time.Unix(0, n), mxc: mxc}, nil
}

// before reports whether a sorts before b: newer first, then by mxc URI.
func before(a, b cursor) bool {
	if !a.at.Equal(b.at) {
		return a.at.After(b.at)
	}
	return a.mxc < b.mxc
}

// List returns one page of media matching f. It reads the state indexes
// (or the hash or uploader index when f names one), so its cost grows
// with the number of matching records, not with the whole catalog.
func (r *Reviewer) List(ctx context.Context, f Filter) (Page, error) {
	if len(f.States) == 0 {
		f.States = []media.State{media.StateQuarantined, media.StateBlocked}
	}
	for _, s := range f.States {
		if !s.Valid() {
			return Page{}, fmt.Errorf("%w: unknown state %q", ErrBadFilter, s)
		}
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var after *cursor
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		after = &c
	}
	var all []Entry
	collect := func(e catalog.Entry) error {
		if f.match(e.Record) {
			all = append(all, Entry{Record: e.Record, Revision: e.Revision})
		}
		return nil
	}
	var err error
	switch {
	case f.SHA256 != "":
		err = each(r.cat.ByHash(ctx, f.SHA256))(collect)
	case f.Uploader != "":
		err = each(r.cat.ByUploader(ctx, f.Uploader))(collect)
	default:
		for _, s := range f.States {
			if err = r.cat.ListByState(ctx, s, collect); err != nil {
				break
			}
		}
	}
	if err != nil {
		return Page{}, err
	}
	pos := func(e Entry) cursor { return cursor{at: ChangedAt(e.Record), mxc: e.Record.MXC()} }
	sort.Slice(all, func(i, j int) bool { return before(pos(all[i]), pos(all[j])) })
	start := 0
	if after != nil {
		start = sort.Search(len(all), func(i int) bool { return before(*after, pos(all[i])) })
	}
	end := min(start+f.Limit, len(all))
	page := Page{Items: all[start:end]}
	if page.Items == nil {
		page.Items = []Entry{}
	}
	if end < len(all) {
		page.Next = pos(all[end-1]).encode()
	}
	return page, nil
}

// each adapts a slice result to a callback walk.
func each(entries []catalog.Entry, err error) func(func(catalog.Entry) error) error {
	return func(fn func(catalog.Entry) error) error {
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
}

// Details is everything known about one media item.
type Details struct {
	Entry
	// Blob is the per-hash record (nil when there is none).
	Blob *media.Blob `json:"blob,omitempty"`
	// SameContent lists the other records with the same SHA-256.
	SameContent []string `json:"same_content"`
}

// Get returns the details of one item.
func (r *Reviewer) Get(ctx context.Context, origin, id string) (Details, error) {
	rec, rev, err := r.cat.Get(ctx, origin, id)
	if err != nil {
		return Details{}, err
	}
	d := Details{Entry: Entry{Record: rec, Revision: rev}, SameContent: []string{}}
	if rec.SHA256 == "" {
		return d, nil
	}
	b, _, err := r.cat.GetBlob(ctx, rec.SHA256)
	switch {
	case err == nil:
		d.Blob = &b
	case !errors.Is(err, media.ErrNotFound):
		return Details{}, err
	}
	same, err := r.cat.ByHash(ctx, rec.SHA256)
	if err != nil {
		return Details{}, err
	}
	for _, e := range same {
		if e.Record.MXC() != rec.MXC() {
			d.SameContent = append(d.SameContent, e.Record.MXC())
		}
	}
	sort.Strings(d.SameContent)
	return d, nil
}

// Usage is what one uploader stores.
type Usage struct {
	UserID string `json:"user_id"`
	// Count and Bytes cover records with content (not tombstones).
	Count   int                 `json:"count"`
	Bytes   int64               `json:"bytes"`
	ByState map[media.State]int `json:"by_state"`
}

func (u *Usage) add(rec media.Record) {
	u.ByState[rec.State]++
	if rec.State != media.StateReserved && !rec.State.Final() {
		u.Count++
		u.Bytes += rec.Size
	}
}

// ByUploader returns every record of the uploader, newest change first,
// and the uploader's usage.
func (r *Reviewer) ByUploader(ctx context.Context, userID string) ([]Entry, Usage, error) {
	if err := media.ValidateUserID(userID); err != nil {
		return nil, Usage{}, err
	}
	entries, err := r.cat.ByUploader(ctx, userID)
	if err != nil {
		return nil, Usage{}, err
	}
	u := Usage{UserID: userID, ByState: map[media.State]int{}}
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		u.add(e.Record)
		out = append(out, Entry{Record: e.Record, Revision: e.Revision})
	}
	sort.Slice(out, func(i, j int) bool { return ChangedAt(out[i].Record).After(ChangedAt(out[j].Record)) })
	return out, u, nil
}

// TopUsage returns the limit uploaders storing the most bytes. It walks
// every record: an occasional report, not a per-request call.
func (r *Reviewer) TopUsage(ctx context.Context, limit int) ([]Usage, error) {
	if limit <= 0 {
		limit = 20
	}
	by := map[string]*Usage{}
	err := r.cat.Walk(ctx, func(e catalog.Entry) error {
		if e.Record.Uploader == "" {
			return nil
		}
		u := by[e.Record.Uploader]
		if u == nil {
			u = &Usage{UserID: e.Record.Uploader, ByState: map[media.State]int{}}
			by[e.Record.Uploader] = u
		}
		u.add(e.Record)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Usage, 0, len(by))
	for _, u := range by {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].UserID < out[j].UserID
	})
	return out[:min(limit, len(out))], nil
}
