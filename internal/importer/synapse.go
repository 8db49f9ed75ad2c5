package importer

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Synapse reads a Synapse homeserver's media: local_media_repository (the
// media its users uploaded) and remote_media_cache (media of other servers
// it cached), with the files of its media_store_path. The table
// definitions are those of Synapse's full schema (main/full_schemas/72)
// plus the columns later deltas added where present (sha256); rows of the
// URL-preview cache (url_cache set) are not media of any mxc:// URI and are
// skipped. The media store layout is Synapse's:
//
//	local_content/<id[0:2]>/<id[2:4]>/<id[4:]>
//	remote_content/<origin>/<filesystem_id[0:2]>/<filesystem_id[2:4]>/<filesystem_id[4:]>
type Synapse struct {
	db *DB
	// server is the homeserver's server name (the origin of local media).
	server string
	store  string
}

// NewSynapse returns the source; serverName is Synapse's server_name,
// mediaStore its media_store_path.
func NewSynapse(db *DB, serverName, mediaStore string) (*Synapse, error) {
	if err := media.ValidateServerName(serverName); err != nil {
		return nil, fmt.Errorf("importer: server name: %w", err)
	}
	return &Synapse{db: db, server: serverName, store: mediaStore}, nil
}

// Name implements Source.
func (s *Synapse) Name() string { return "synapse" }

const (
	synapseLocal  = "local_media_repository"
	synapseRemote = "remote_media_cache"
)

// localFilter excludes the URL-preview cache's rows.
func (s *Synapse) localFilter(ctx context.Context) (string, map[string]bool, error) {
	cols, err := s.db.columns(ctx, synapseLocal)
	if err != nil {
		return "", nil, err
	}
	if cols["url_cache"] {
		return "url_cache IS NULL", cols, nil
	}
	return "1 = 1", cols, nil
}

// Totals implements Source.
func (s *Synapse) Totals(ctx context.Context) (Totals, error) {
	filter, _, err := s.localFilter(ctx)
	if err != nil {
		return Totals{}, err
	}
	if _, err := s.db.columns(ctx, synapseRemote); err != nil {
		return Totals{}, err
	}
	var t Totals
	for _, q := range []string{
		`SELECT count(*) FROM ` + synapseLocal + ` WHERE ` + filter,
		`SELECT count(*) FROM ` + synapseRemote,
	} {
		n, err := s.db.count(ctx, q)
		if err != nil {
			return Totals{}, fmt.Errorf("importer: %w", err)
		}
		t.Files += n
	}
	for _, q := range []string{
		`SELECT coalesce(sum(media_length), 0) FROM ` + synapseLocal + ` WHERE ` + filter,
		`SELECT coalesce(sum(media_length), 0) FROM ` + synapseRemote,
	} {
		n, err := s.db.count(ctx, q)
		if err != nil {
			return Totals{}, fmt.Errorf("importer: %w", err)
		}
		t.Bytes += n
	}
	return t, nil
}

// Scan implements Source: local media by media ID, then remote media by
// origin and media ID, in keyset-paginated pages.
func (s *Synapse) Scan(ctx context.Context, fn func(Item) error) error {
	if err := s.scanLocal(ctx, fn); err != nil {
		return err
	}
	return s.scanRemote(ctx, fn)
}

func (s *Synapse) scanLocal(ctx context.Context, fn func(Item) error) error {
	filter, cols, err := s.localFilter(ctx)
	if err != nil {
		return err
	}
	// A row without a media ID cannot be paged to; report each one.
	nulls, err := s.db.count(ctx, `SELECT count(*) FROM `+synapseLocal+` WHERE media_id IS NULL AND `+filter)
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	for range nulls {
		if err := fn(Item{Origin: s.server, Err: fmt.Errorf("%s row without a media_id", synapseLocal)}); err != nil {
			return err
		}
	}
	q := `SELECT media_id, media_type, media_length, created_ts, upload_name, user_id, quarantined_by, ` +
		optional(cols, "safe_from_quarantine", "false") + `, ` + optional(cols, "sha256", "NULL") +
		` FROM ` + synapseLocal + ` WHERE ` + filter + ` AND media_id > $1 ORDER BY media_id LIMIT $2`
	last := ""
	for {
		page, err := s.db.queryPage(ctx, q, last, pageSize)
		if err != nil {
			return fmt.Errorf("importer: reading %s: %w", synapseLocal, err)
		}
		for _, vals := range page {
			last, _, _ = asString(vals[0])
			if err := fn(s.localItem(vals)); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

func (s *Synapse) localItem(vals []any) Item {
	r := &rowReader{vals: vals}
	it := Item{Origin: s.server}
	it.ID = r.mediaID(0, "media_id")
	it.ContentType = r.str(1, "media_type")
	it.Size = r.size(2, "media_length")
	it.CreatedAt = r.millis(3, "created_ts")
	it.Filename = r.str(4, "upload_name")
	it.Uploader = r.userID(5, "user_id")
	it.QuarantinedBy = r.str(6, "quarantined_by")
	it.SafeFromQuarantine = r.bool(7, "safe_from_quarantine")
	it.SHA256 = r.sha256(8, "sha256")
	if r.err == nil {
		it.Path, r.err = synapsePath(s.store, "local_content", it.ID)
	}
	it.Err = r.err
	return it
}

func (s *Synapse) scanRemote(ctx context.Context, fn func(Item) error) error {
	cols, err := s.db.columns(ctx, synapseRemote)
	if err != nil {
		return err
	}
	nulls, err := s.db.count(ctx, `SELECT count(*) FROM `+synapseRemote+` WHERE media_origin IS NULL OR media_id IS NULL`)
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	for range nulls {
		if err := fn(Item{Err: fmt.Errorf("%s row without media_origin or media_id", synapseRemote)}); err != nil {
			return err
		}
	}
	q := `SELECT media_origin, media_id, media_type, media_length, created_ts, upload_name, filesystem_id, quarantined_by, ` +
		optional(cols, "sha256", "NULL") + ` FROM ` + synapseRemote +
		` WHERE (media_origin, media_id) > ($1, $2) ORDER BY media_origin, media_id LIMIT $3`
	lastOrigin, lastID := "", ""
	for {
		page, err := s.db.queryPage(ctx, q, lastOrigin, lastID, pageSize)
		if err != nil {
			return fmt.Errorf("importer: reading %s: %w", synapseRemote, err)
		}
		for _, vals := range page {
			lastOrigin, _, _ = asString(vals[0])
			lastID, _, _ = asString(vals[1])
			if err := fn(s.remoteItem(vals)); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

func (s *Synapse) remoteItem(vals []any) Item {
	r := &rowReader{vals: vals}
	it := Item{Remote: true}
	it.Origin = r.serverName(0, "media_origin")
	it.ID = r.mediaID(1, "media_id")
	it.ContentType = r.str(2, "media_type")
	it.Size = r.size(3, "media_length")
	it.CreatedAt = r.millis(4, "created_ts")
	it.Filename = r.str(5, "upload_name")
	fsid := r.mediaID(6, "filesystem_id")
	it.QuarantinedBy = r.str(7, "quarantined_by")
	it.SHA256 = r.sha256(8, "sha256")
	if r.err == nil && it.Origin == s.server {
		r.err = fmt.Errorf("remote media of the server's own name %s", s.server)
	}
	if r.err == nil {
		it.Path, r.err = synapsePath(s.store, filepath.Join("remote_content", it.Origin), fsid)
	}
	it.Err = r.err
	return it
}

// synapsePath is Synapse's file path of a (validated) media or filesystem
// ID: dir/aa/bb/rest.
func synapsePath(store, dir, id string) (string, error) {
	if len(id) < 5 {
		return "", fmt.Errorf("media ID %q too short for Synapse's media store layout", id)
	}
	return filepath.Join(store, dir, id[0:2], id[2:4], id[4:]), nil
}
