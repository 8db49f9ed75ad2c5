package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
	mfed "maunium.net/go/mautrix/federation"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Defaults of ClientOptions.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultMaxRedirects = 5
	// keyResponseLimit caps a /_matrix/key/v2/server answer.
	keyResponseLimit = 256 << 10
	// dialTimeout bounds one TCP connect.
	dialTimeout = 10 * time.Second
)

// ClientOptions configure outgoing federation requests.
type ClientOptions struct {
	// ServerName is the server name our requests are signed as (the
	// homeserver whose key Key is).
	ServerName string
	// Key is the homeserver's signing key (LoadSigningKey).
	Key *mfed.SigningKey
	// Policy decides which addresses may be dialled.
	Policy AddrPolicy
	// RootCAs verify remote TLS certificates (nil: the system roots).
	RootCAs *x509.CertPool
	// Timeout bounds one whole download: resolution, request, headers and
	// the body (DefaultTimeout).
	Timeout time.Duration
	// MaxSize caps remote media in bytes (declared and streamed).
	MaxSize int64
	// ACL is the peer allow-list (nil: allow all).
	ACL *PeerACL
	// MaxRedirects bounds the redirects followed for a Location answer
	// and for .well-known (DefaultMaxRedirects).
	MaxRedirects int
}

// Client makes signed federation requests to other servers through a
// resolving, address-checking transport.
type Client struct {
	fed   *mfed.Client
	plain *http.Client
	opts  ClientOptions
}

// NewClient returns a Client. Every connection it makes, including
// .well-known lookups, key fetches and redirects, goes through a dialer
// that enforces opts.Policy on the resolved address.
func NewClient(opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	dialer := opts.Policy.Dialer(dialTimeout)
	newTransport := func() *http.Transport {
		return &http.Transport{
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    dialTimeout,
			ResponseHeaderTimeout:  opts.Timeout,
			MaxResponseHeaderBytes: 64 << 10,
			IdleConnTimeout:        90 * time.Second,
			MaxIdleConnsPerHost:    4,
			// Proxy stays nil: an environment proxy would bypass the
			// address checks.
		}
	}
	plain := &http.Client{Transport: newTransport(), CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= opts.MaxRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrRemoteFailed, opts.MaxRedirects)
		}
		if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
			return fmt.Errorf("%w: redirect to scheme %q", ErrRemoteFailed, req.URL.Scheme)
		}
		return nil
	}}
	wellKnown := *plain
	wellKnown.Timeout = 15 * time.Second
	srt := mfed.NewServerResolvingTransport(mfed.NewInMemoryCache())
	srt.Dialer = dialer
	srt.ResolveOpts = &mfed.ResolveServerNameOpts{HTTPClient: &wellKnown}
	srt.Transport = newTransport()
	srt.Transport.DialContext = srt.DialContext
	fed := &mfed.Client{
		HTTP: &http.Client{Transport: srt, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // federation requests are not redirected
		}},
		ServerName:        opts.ServerName,
		UserAgent:         "mediarepo",
		Key:               opts.Key,
		ResponseSizeLimit: keyResponseLimit,
	}
	return &Client{fed: fed, plain: plain, opts: opts}
}

// ServerName is the name our requests are signed as.
func (c *Client) ServerName() string { return c.opts.ServerName }

// ServerKeys fetches a server's keys from its /_matrix/key/v2/server
// (unverified: KeyStore checks them).
func (c *Client) ServerKeys(ctx context.Context, server string) (*mfed.ServerKeyResponse, error) {
	if err := c.opts.ACL.Check(server); err != nil {
		return nil, err
	}
	resp, err := c.fed.ServerKeys(ctx, server)
	if err != nil {
		return nil, remoteError(server, err)
	}
	return resp, nil
}

// Download fetches mxc://origin/mediaID from its server
// (GET /_matrix/federation/v1/media/download/{mediaId}, signed). The
// caller reads and closes Media.Body; the whole transfer must finish
// within the client's Timeout. Errors: ErrPeerNotAllowed before any
// connection; media.ErrNotFound or media.ErrNotYetUploaded as the remote
// answered; ErrRemoteTooLarge; ErrAddressForbidden; ErrRemoteFailed.
func (c *Client) Download(ctx context.Context, origin, mediaID string) (*Media, error) {
	if err := c.opts.ACL.Check(origin); err != nil {
		return nil, err
	}
	if err := media.ValidateServerName(origin); err != nil {
		return nil, err
	}
	if err := media.ValidateMediaID(mediaID); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	wait := min(20*time.Second, c.opts.Timeout/2)
	_, resp, err := c.fed.MakeFullRequest(ctx, mfed.RequestParams{
		ServerName:   origin,
		Method:       http.MethodGet,
		Path:         mfed.URLPath{"v1", "media", "download", mediaID},
		Query:        url.Values{"timeout_ms": {strconv.FormatInt(wait.Milliseconds(), 10)}},
		Authenticate: true,
		DontReadBody: true,
	})
	if err != nil {
		cancel()
		return nil, remoteError(origin, err)
	}
	m, err := c.readAnswer(ctx, resp)
	if err != nil {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	m.Body = &bodyCloser{Reader: m.Body, closers: []func() error{m.Body.Close, resp.Body.Close, func() error { cancel(); return nil }}}
	return m, nil
}

// remoteError classifies a failed request to server.
func remoteError(server string, err error) error {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		code := ""
		if he.RespError != nil {
			code = he.RespError.ErrCode
		}
		switch {
		case he.Response.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%s answered 404 %s: %w", server, code, media.ErrNotFound)
		case code == "M_NOT_YET_UPLOADED":
			return fmt.Errorf("%s: %w", server, media.ErrNotYetUploaded)
		case code == "M_TOO_LARGE":
			return fmt.Errorf("%s: %w", server, ErrRemoteTooLarge)
		}
		return fmt.Errorf("%w: %s answered %d %s", ErrRemoteFailed, server, he.Response.StatusCode, code)
	}
	switch {
	case errors.Is(err, ErrAddressForbidden), errors.Is(err, ErrPeerNotAllowed), errors.Is(err, ErrRemoteFailed):
		return fmt.Errorf("%s: %w", server, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRemoteFailed, server, err)
}
