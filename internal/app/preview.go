package app

import (
	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/httpapi"
	"github.com/mediarepo/mediarepo/internal/preview"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// previews builds the URL previewer (nil when url_preview is off).
func (s *Server) previews(svc *service.Service) (httpapi.Previewer, error) {
	c := s.cfg.URLPreview
	if !c.Enabled {
		return nil, nil
	}
	p, err := preview.New(svc, preview.Options{
		Policy: federation.AddrPolicy{AllowPrivate: c.AllowPrivateAddresses},
		Deny:   c.Deny, Allow: c.Allow,
		MaxPageSize: int64(c.MaxPageSize), MaxImageSize: int64(c.MaxImageSize),
		Timeout: c.Timeout.D(), MaxRedirects: c.MaxRedirects, CacheTTL: c.CacheTTL.D(),
		Image: thumbnail.Limits{MaxPixels: s.cfg.Thumbnails.MaxPixels, MaxFrames: s.cfg.Thumbnails.MaxFrames},
	}, s.log, s.registry)
	if err != nil {
		return nil, err
	}
	s.log.Info("URL previews on: linked sites see this server fetch their pages", "deny", len(c.Deny), "allow", len(c.Allow))
	return p, nil
}
