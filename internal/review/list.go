package review

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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
// when it has none): catalog.ChangedAt.
func ChangedAt(r media.Record) time.Time { return catalog.ChangedAt(r) }

// match reports whether the record passes the filters the catalog's
// listing does not apply (signature, hash).
func (f Filter) match(r media.Record) bool {
	sig := ""
	if r.Verdict != nil {
		sig = r.Verdict.Signature
	}
	switch {
	case f.SHA256 != "" && r.SHA256 != f.SHA256,
		f.Signature != "" && !strings.Contains(strings.ToLower(sig), strings.ToLower(f.Signature)):
		return false
	}
	return true
}

// encodeCursor returns the cursor of the position after p.
func encodeCursor(p catalog.Position) string {
	s := strconv.FormatInt(p.ChangedAt.UnixNano(), 10) + "|" + p.Origin + "|" + p.ID
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(s string) (catalog.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return catalog.Position{}, fmt.Errorf("%w: %w", ErrBadFilter, err)
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 3 {
		return catalog.Position{}, ErrBadFilter
	}
	n, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || media.ValidateServerName(parts[1]) != nil || media.ValidateMediaID(parts[2]) != nil {
		return catalog.Position{}, ErrBadFilter
	}
	return catalog.Position{ChangedAt: time.Unix(0, n), Origin: parts[1], ID: parts[2]}, nil
}

// List returns one page of media matching f, newest change first. The
// catalog's listing (catalog.Lookups.List) applies states, times, uploader,
// origin and the cursor; the signature is filtered here, reading further
// pages of the catalog until the page is full; a hash filter reads the
// hash's records. Its cost grows with the page and the records skipped
// for their signature, not with the whole catalog.
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
	q := catalog.ListQuery{States: f.States, Since: f.Since, Until: f.Until, Uploader: f.Uploader, Origin: f.Origin,
		Limit: min(f.Limit+1, catalog.MaxListLimit)}
	if f.Cursor != "" {
		p, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		q.After = &p
	}
	if err := q.Validate(); err != nil {
		return Page{}, fmt.Errorf("%w: %w", ErrBadFilter, err)
	}
	var found []Entry
	if f.SHA256 != "" {
		same, err := r.cat.ByHash(ctx, f.SHA256)
		if err != nil {
			return Page{}, err
		}
		var matching []catalog.Entry
		for _, e := range same {
			if q.Match(e.Record) && f.match(e.Record) {
				matching = append(matching, e)
			}
		}
		for _, e := range catalog.SortPage(matching, q.Limit) {
			found = append(found, Entry{Record: e.Record, Revision: e.Revision})
		}
	} else {
		// Read pages until f.Limit+1 items pass the signature filter (the
		// extra one tells whether a next page exists) or the listing ends.
		for len(found) <= f.Limit {
			batch, err := r.cat.List(ctx, q)
			if err != nil {
				return Page{}, err
			}
			for _, e := range batch {
				if f.match(e.Record) {
					found = append(found, Entry{Record: e.Record, Revision: e.Revision})
				}
			}
			if len(batch) < q.Limit {
				break
			}
			last := catalog.PositionOf(batch[len(batch)-1].Record)
			q.After = &last
		}
	}
	page := Page{Items: found[:min(f.Limit, len(found))]}
	if page.Items == nil {
		page.Items = []Entry{}
	}
	if len(found) > f.Limit {
		page.Next = encodeCursor(catalog.PositionOf(page.Items[len(page.Items)-1].Record))
	}
	return page, nil
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

// Records is how many records of the user the usage counted, in every
// state.
func (u Usage) Records() int {
	n := 0
	for _, c := range u.ByState {
		n += c
	}
	return n
}

// MaxUploaderItems is how many records ByUploader returns at most: a
// bridge or a bot may own millions, and the answer is held in memory.
const MaxUploaderItems = 1000

// ByUploader returns the uploader's newest MaxUploaderItems records,
// newest change first, and the usage of all of them (Usage.Records says
// how many there are). It reads every record of the uploader but holds at
// most 2 × MaxUploaderItems at a time.
func (r *Reviewer) ByUploader(ctx context.Context, userID string) ([]Entry, Usage, error) {
	if err := media.ValidateUserID(userID); err != nil {
		return nil, Usage{}, err
	}
	u := Usage{UserID: userID, ByState: map[media.State]int{}}
	var out []Entry
	err := r.cat.ByUploader(ctx, userID, func(e catalog.Entry) error {
		u.add(e.Record)
		out = append(out, Entry{Record: e.Record, Revision: e.Revision})
		if len(out) == 2*MaxUploaderItems {
			out = newest(out, MaxUploaderItems)
		}
		return nil
	})
	if err != nil {
		return nil, Usage{}, err
	}
	return newest(out, MaxUploaderItems), u, nil
}

// newest sorts entries newest change first and keeps the first n.
func newest(entries []Entry, n int) []Entry {
	sort.Slice(entries, func(i, j int) bool { return ChangedAt(entries[i].Record).After(ChangedAt(entries[j].Record)) })
	return entries[:min(n, len(entries))]
}

// TopUsage returns the limit uploaders storing the most bytes, from the
// per-user usage counters (the ones quotas use): it reads no record.
// Count is the files counted, ByState stays empty.
func (r *Reviewer) TopUsage(ctx context.Context, limit int) ([]Usage, error) {
	if limit <= 0 {
		limit = 20
	}
	top, err := r.cat.TopUsages(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Usage, 0, len(top))
	for _, u := range top {
		out = append(out, Usage{UserID: u.UserID, Count: int(u.Files), Bytes: u.Bytes, ByState: map[media.State]int{}})
	}
	return out, nil
}
