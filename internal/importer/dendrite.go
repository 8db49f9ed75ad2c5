package importer

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Dendrite reads a Dendrite homeserver's media: the table
// mediaapi_media_repository (local uploads and cached remote media alike,
// told apart by media_origin) and the files under media_api.base_path.
// Dendrite stores a file by the unpadded URL-safe base64 SHA-256 of its
// content, so identical uploads share a file and every import checks the
// content against that hash:
//
//	<base_path>/<hash[0]>/<hash[1]>/<hash[2:]>/file
//
// Dendrite has no quarantine. Its thumbnails (mediaapi_thumbnail) are not
// imported.
type Dendrite struct {
	db     *DB
	server string
	store  string
}

// NewDendrite returns the source; serverName is Dendrite's
// global.server_name, mediaStore its media_api.base_path.
func NewDendrite(db *DB, serverName, mediaStore string) (*Dendrite, error) {
	if err := media.ValidateServerName(serverName); err != nil {
		return nil, fmt.Errorf("importer: server name: %w", err)
	}
	return &Dendrite{db: db, server: serverName, store: mediaStore}, nil
}

// Name implements Source.
func (d *Dendrite) Name() string { return "dendrite" }

const dendriteMedia = "mediaapi_media_repository"

// Totals implements Source.
func (d *Dendrite) Totals(ctx context.Context) (Totals, error) {
	if _, err := d.db.columns(ctx, dendriteMedia); err != nil {
		return Totals{}, err
	}
	files, err := d.db.count(ctx, `SELECT count(*) FROM `+dendriteMedia)
	if err != nil {
		return Totals{}, fmt.Errorf("importer: %w", err)
	}
	bytes, err := d.db.count(ctx, `SELECT coalesce(sum(file_size_bytes), 0) FROM `+dendriteMedia)
	if err != nil {
		return Totals{}, fmt.Errorf("importer: %w", err)
	}
	return Totals{Files: files, Bytes: bytes}, nil
}

// Scan implements Source, by origin and media ID in keyset-paginated
// pages (both columns are NOT NULL in Dendrite's schema).
func (d *Dendrite) Scan(ctx context.Context, fn func(Item) error) error {
	if _, err := d.db.columns(ctx, dendriteMedia); err != nil {
		return err
	}
	q := `SELECT media_origin, media_id, content_type, file_size_bytes, creation_ts, upload_name, base64hash, user_id FROM ` +
		dendriteMedia + ` WHERE (media_origin, media_id) > ($1, $2) ORDER BY media_origin, media_id LIMIT $3`
	lastOrigin, lastID := "", ""
	for {
		page, err := d.db.queryPage(ctx, q, lastOrigin, lastID, pageSize)
		if err != nil {
			return fmt.Errorf("importer: reading %s: %w", dendriteMedia, err)
		}
		for _, vals := range page {
			lastOrigin, _, _ = asString(vals[0])
			lastID, _, _ = asString(vals[1])
			if err := fn(d.item(vals)); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

func (d *Dendrite) item(vals []any) Item {
	r := &rowReader{vals: vals}
	var it Item
	it.Origin = r.serverName(0, "media_origin")
	it.ID = r.mediaID(1, "media_id")
	it.ContentType = r.str(2, "content_type")
	it.Size = r.size(3, "file_size_bytes")
	it.CreatedAt = r.millis(4, "creation_ts")
	// Dendrite keeps the name path-escaped and unescapes it when serving.
	it.Filename = r.str(5, "upload_name")
	if name, err := url.PathUnescape(it.Filename); err == nil {
		it.Filename = name
	}
	hash := r.str(6, "base64hash")
	it.Remote = it.Origin != d.server
	if !it.Remote {
		it.Uploader = r.userID(7, "user_id")
	}
	if r.err == nil {
		sum, err := base64.RawURLEncoding.DecodeString(hash)
		if err != nil || len(sum) != 32 {
			r.fail("base64hash", fmt.Errorf("not an unpadded URL-safe base64 SHA-256: %q", hash))
		} else {
			// The alphabet [A-Za-z0-9_-] is safe as path elements.
			it.SHA256 = hex.EncodeToString(sum)
			it.Path = filepath.Join(d.store, hash[0:1], hash[1:2], hash[2:], "file")
		}
	}
	it.Err = r.err
	return it
}
