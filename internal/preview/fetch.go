package preview

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/federation"
)

// fetcher makes the outgoing requests of previews: through the SSRF-safe
// dialer of federation (the resolved address of every connection,
// redirects included, is checked), without an environment proxy, with a
// bounded number of redirects, each one checked against the URL patterns.
type fetcher struct {
	client *http.Client
	rules  *Rules
}

func newFetcher(policy federation.AddrPolicy, rules *Rules, maxRedirects int, timeout time.Duration) *fetcher {
	dialer := policy.Dialer(min(timeout, 10*time.Second))
	tr := &http.Transport{
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        30 * time.Second,
		MaxIdleConnsPerHost:    2,
		// Proxy stays nil: an environment proxy would bypass the address checks.
	}
	f := &fetcher{rules: rules}
	f.client = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrFetchFailed, maxRedirects)
		}
		if err := rules.Check(req.URL); err != nil {
			return err
		}
		return nil
	}}
	return f
}

// answer is a fetched resource: its final URL, media type and body, cut
// at the limit the caller asked for.
type answer struct {
	URL         *url.URL
	ContentType string // the full Content-Type header
	MediaType   string // lowercase, without parameters
	Body        io.ReadCloser
	// Length is the declared length (-1 unknown).
	Length int64
}

// get fetches u. Errors wrap ErrDenied (a pattern refused u or a
// redirect), federation.ErrAddressForbidden (SSRF), or ErrFetchFailed.
// The caller closes Body.
func (f *fetcher) get(ctx context.Context, u *url.URL, accept string) (*answer, error) {
	if err := f.rules.Check(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Accept-Language", "en;q=0.9, *;q=0.5")
	req.Header.Set("User-Agent", "mediarepo URL preview (Matrix media repository)")
	resp, err := f.client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, ErrDenied), errors.Is(err, federation.ErrAddressForbidden), errors.Is(err, ErrFetchFailed):
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrFetchFailed, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s answered %d", ErrFetchFailed, u.Host, resp.StatusCode)
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ""
	}
	return &answer{URL: resp.Request.URL, ContentType: ct, MediaType: strings.ToLower(mt), Body: resp.Body, Length: resp.ContentLength}, nil
}

// isHTML reports whether a media type is a page to parse.
func isHTML(mt string) bool {
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// isImage reports whether a media type is an image to preview.
func isImage(mt string) bool { return strings.HasPrefix(mt, "image/") }
