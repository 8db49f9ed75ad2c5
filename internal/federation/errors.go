package federation

import "errors"

// Errors of federation. internal/httpapi maps them to status codes.
var (
	// ErrUnauthorized means an incoming request carries no valid X-Matrix
	// signature: a missing or malformed header, a wrong destination, keys
	// that cannot be fetched or verified, or a bad signature. HTTP 401
	// M_UNAUTHORIZED.
	ErrUnauthorized = errors.New("federation: request not authorized")
	// ErrPeerNotAllowed means the other server is outside the configured
	// allow-list; nothing is fetched from it and nothing served to it.
	// HTTP 403 M_FORBIDDEN.
	ErrPeerNotAllowed = errors.New("federation: peer server not allowed")
	// ErrAddressForbidden means a connection was refused because the
	// resolved address is private, loopback, link-local, unspecified or
	// multicast (SSRF protection). HTTP 502 for a client's download.
	ErrAddressForbidden = errors.New("federation: address not allowed")
	// ErrRemoteFailed means the remote server could not be reached or
	// answered something other than the media (a server error, a malformed
	// multipart answer, a redirect loop). HTTP 502.
	ErrRemoteFailed = errors.New("federation: remote server failed")
	// ErrRemoteTooLarge means remote media exceeds the configured maximum
	// (declared or while streaming). HTTP 502 M_TOO_LARGE.
	ErrRemoteTooLarge = errors.New("federation: remote media too large")
	// ErrBadKeyFile means the signing key file is missing or malformed.
	ErrBadKeyFile = errors.New("federation: bad signing key file")
)
