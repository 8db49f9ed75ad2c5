package httpapi

import (
	"context"
	"net/http"

	"github.com/mediarepo/mediarepo/internal/preview"
)

// Previewer builds URL previews (preview.Previewer).
type Previewer interface {
	Get(ctx context.Context, user, origin, rawURL string) (preview.Preview, error)
}

func (a *API) previewRoutes() []route {
	return []route{
		{"preview_url", "/_matrix/client/v1/media/preview_url", []string{"GET"}, true, a.previewURL},
		{"legacy_preview_url", "/_matrix/media/v3/preview_url", []string{"GET"}, true, a.previewURL},
	}
}

// previewURL answers the Open Graph data of ?url=, as Synapse does. With
// url_preview.enabled off it answers like an unknown endpoint (404
// M_UNRECOGNIZED), which clients read as "no previews here".
func (a *API) previewURL(w http.ResponseWriter, r *http.Request) error {
	if a.opts.Previews == nil {
		return ErrUnrecognized
	}
	if err := a.previews.allow(userID(r.Context())); err != nil {
		return err
	}
	pv, err := a.opts.Previews.Get(r.Context(), userID(r.Context()), origin(r), r.URL.Query().Get("url"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pv)
	return nil
}
