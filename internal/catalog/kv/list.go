package kv

import (
	"context"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// List implements catalog.Lookups. KV has no ordered index: it reads every
// record of the listed states (or of the uploader, when the query names
// one, which is usually fewer), filters and sorts them, and returns the
// page. Its cost grows with the records of those states, not with the
// page; clean, deleted and expired states cost a walk of every record.
func (c *Catalog) List(ctx context.Context, q catalog.ListQuery) ([]catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var all []catalog.Entry
	collect := func(e catalog.Entry) error {
		if q.Match(e.Record) {
			all = append(all, e)
		}
		return nil
	}
	if q.Uploader != "" {
		if err := c.ByUploader(ctx, q.Uploader, collect); err != nil {
			return nil, err
		}
		return catalog.SortPage(all, q.Limit), nil
	}
	for _, s := range q.States {
		if err := c.ListByState(ctx, s, collect); err != nil {
			return nil, err
		}
	}
	return catalog.SortPage(all, q.Limit), nil
}
