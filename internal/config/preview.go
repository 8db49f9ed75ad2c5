package config

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// URLPreview configures URL previews (GET /_matrix/client/v1/media/preview_url).
// Off by default: a preview tells the linked site that someone on this
// server is reading its link, and when.
type URLPreview struct {
	// Enabled serves previews; off answers 404 M_UNRECOGNIZED.
	Enabled bool `yaml:"enabled"`
	// AllowPrivateAddresses lets previews fetch from loopback and private
	// ranges (tests, intranets). Link-local (cloud metadata), unspecified
	// and multicast addresses stay refused.
	AllowPrivateAddresses bool `yaml:"allow_private_addresses"`
	// Deny and Allow are glob patterns over the URL without fragment
	// ("https://host/path?query"; "*" matches any run of characters).
	// Deny wins; a non-empty Allow admits only what it matches. Every
	// redirect is checked too.
	Deny  []string `yaml:"deny"`
	Allow []string `yaml:"allow"`
	// MaxPageSize is how much of a page is read and parsed.
	MaxPageSize ByteSize `yaml:"max_page_size"`
	// MaxImageSize caps the preview image (fetched, stored, scanned).
	MaxImageSize ByteSize `yaml:"max_image_size"`
	// Timeout bounds one preview: the page, the image and its scan.
	Timeout Duration `yaml:"timeout"`
	// MaxRedirects bounds the redirects of one fetch.
	MaxRedirects int `yaml:"max_redirects"`
	// CacheTTL keeps a preview per URL this long (per replica).
	CacheTTL Duration `yaml:"cache_ttl"`
	// PerSecond and Burst limit previews per user.
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// defaultURLPreview is the url_preview section's default.
func defaultURLPreview() URLPreview {
	return URLPreview{MaxPageSize: 1 << 20, MaxImageSize: 10 << 20, Timeout: Duration(10 * time.Second),
		MaxRedirects: 5, CacheTTL: Duration(time.Hour), PerSecond: 1, Burst: 10}
}

func (p URLPreview) validate(maxUpload ByteSize) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.MaxPageSize < 1 || p.MaxImageSize < 1 {
		bad("url_preview: max_page_size and max_image_size must be ≥ 1")
	}
	if p.MaxImageSize > maxUpload {
		bad("url_preview.max_image_size: %d is more than media.max_upload_size", p.MaxImageSize)
	}
	if p.Timeout <= 0 || p.CacheTTL < 0 || p.MaxRedirects < 0 {
		bad("url_preview: timeout > 0, cache_ttl ≥ 0 and max_redirects ≥ 0 are required")
	}
	if p.PerSecond <= 0 || p.Burst < 1 {
		bad("url_preview: per_second > 0 and burst ≥ 1 are required")
	}
	for _, pat := range append(append([]string{}, p.Deny...), p.Allow...) {
		if _, err := path.Match(strings.ReplaceAll(pat, "/", "\x00"), ""); err != nil || pat == "" {
			bad("url_preview: pattern %q is not a glob", pat)
		}
	}
	return errs
}
