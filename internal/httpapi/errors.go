// Package httpapi is mediarepo's HTTP layer: the routes of the Matrix media
// API (and later the content-scanner and officer APIs), the ONE table that
// turns domain errors into status codes and errcodes, and the headers that
// media responses carry. No other package knows an HTTP status.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/preview"
	"github.com/mediarepo/mediarepo/internal/review"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/session"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// Errors of the HTTP layer itself.
var (
	// ErrUnrecognized: no such endpoint (404) or method (405 via errMethod).
	ErrUnrecognized = errors.New("unrecognized request")
	errMethod       = errors.New("method not allowed")
	// ErrBadRequest: a malformed parameter or body (400 M_INVALID_PARAM).
	ErrBadRequest = errors.New("bad request")
	// ErrRangeNotSatisfiable: the Range header lies outside the content.
	ErrRangeNotSatisfiable = errors.New("range not satisfiable")
	// ErrUnavailable: a dependency (catalog, store, queue) is down (503).
	ErrUnavailable = errors.New("service unavailable")
)

// apiError describes how one class of error is answered.
type apiError struct {
	status  int
	errcode string
	// reason is the content-scanner reason (MCS_*) sent beside errcode.
	reason string
	// retry sets Retry-After (seconds).
	retry int
	// detail: the error's own text is written for the client (what was
	// wrong with the request) and is sent; every other error is answered
	// with msg and its detail goes only to the log.
	detail bool
	// msg is the short stable message (lookup sets it from the sentinel).
	msg string
}

// errorTable maps sentinel errors to their answers; the first match (in
// order) wins, so more specific errors come first. Anything else is 500.
var errorTable = []struct {
	err error
	api apiError
}{
	{auth.ErrMissingToken, apiError{status: 401, errcode: "M_MISSING_TOKEN", detail: true}},
	{auth.ErrUnknownToken, apiError{status: 401, errcode: "M_UNKNOWN_TOKEN"}},
	{auth.ErrUnknownServer, apiError{status: 404, errcode: "M_NOT_FOUND"}},
	{auth.ErrUnavailable, apiError{status: 502, errcode: "M_UNKNOWN"}},
	{auth.ErrForbidden, apiError{status: 403, errcode: "M_FORBIDDEN"}},
	{errGuestUpload, apiError{status: 403, errcode: "M_GUEST_ACCESS_FORBIDDEN"}},
	{ErrUnrecognized, apiError{status: 404, errcode: "M_UNRECOGNIZED"}},
	{errMethod, apiError{status: 405, errcode: "M_UNRECOGNIZED"}},
	{ErrBadRequest, apiError{status: 400, errcode: "M_INVALID_PARAM", detail: true}},
	{errTooSlow, apiError{status: 408, errcode: "M_UNKNOWN", detail: true}},
	{errBodyCut, apiError{status: 400, errcode: "M_UNKNOWN"}},
	{ErrRangeNotSatisfiable, apiError{status: 416, errcode: "M_UNKNOWN"}},
	{ErrUnavailable, apiError{status: 503, errcode: "M_UNKNOWN", retry: 5}},
	{catalog.ErrUnavailable, apiError{status: 503, errcode: "M_UNKNOWN", retry: 5}},
	{preview.ErrBadURL, apiError{status: 400, errcode: "M_INVALID_PARAM", detail: true}},
	{preview.ErrDenied, apiError{status: 403, errcode: "M_FORBIDDEN", msg: "this URL is not previewed"}},
	{preview.ErrFetchFailed, apiError{status: 502, errcode: "M_UNKNOWN", msg: "fetching the URL failed"}},
	{federation.ErrUnauthorized, apiError{status: 401, errcode: "M_UNAUTHORIZED"}},
	{federation.ErrPeerNotAllowed, apiError{status: 403, errcode: "M_FORBIDDEN"}},
	{federation.ErrRemoteTooLarge, apiError{status: 502, errcode: "M_TOO_LARGE"}},
	{federation.ErrAddressForbidden, apiError{status: 502, errcode: "M_UNKNOWN"}},
	{federation.ErrRemoteFailed, apiError{status: 502, errcode: "M_UNKNOWN", retry: 5}},
	{media.ErrInvalidID, apiError{status: 404, errcode: "M_NOT_FOUND"}},
	{media.ErrInvalidServerName, apiError{status: 404, errcode: "M_NOT_FOUND"}},
	{media.ErrInvalidUserID, apiError{status: 400, errcode: "M_INVALID_PARAM"}},
	{media.ErrNotFound, apiError{status: 404, errcode: "M_NOT_FOUND"}},
	{media.ErrExpired, apiError{status: 404, errcode: "M_NOT_FOUND"}},
	{media.ErrCannotOverwrite, apiError{status: 409, errcode: "M_CANNOT_OVERWRITE_MEDIA"}},
	{media.ErrForbidden, apiError{status: 403, errcode: "M_FORBIDDEN"}},
	{media.ErrTooLarge, apiError{status: 413, errcode: "M_TOO_LARGE", detail: true}},
	{service.ErrUserLimitExceeded, apiError{status: 403, errcode: "M_USER_LIMIT_EXCEEDED", detail: true}},
	{media.ErrTypeForbidden, apiError{status: 403, errcode: "M_FORBIDDEN", reason: "MCS_MIME_TYPE_FORBIDDEN"}},
	{media.ErrHashBlocked, apiError{status: 403, errcode: "M_FORBIDDEN", reason: "MCS_MEDIA_NOT_CLEAN"}},
	{media.ErrNotClean, apiError{status: 403, errcode: "M_FORBIDDEN", reason: "MCS_MEDIA_NOT_CLEAN"}},
	{media.ErrNotYetUploaded, apiError{status: 504, errcode: "M_NOT_YET_UPLOADED", retry: 5}},
	{media.ErrLimitExceeded, apiError{status: 429, errcode: "M_LIMIT_EXCEEDED", retry: 1, detail: true}},
	{media.ErrConflict, apiError{status: 503, errcode: "M_UNKNOWN", retry: 1}},
	{storage.ErrNotFound, apiError{status: 503, errcode: "M_UNKNOWN", retry: 5}},
	{thumbnail.ErrBadRequest, apiError{status: 400, errcode: "M_INVALID_PARAM", detail: true}},
	{thumbnail.ErrUnsupportedFormat, apiError{status: 400, errcode: "M_UNKNOWN"}},
	{thumbnail.ErrCorrupt, apiError{status: 400, errcode: "M_UNKNOWN"}},
	{thumbnail.ErrTooLarge, apiError{status: 413, errcode: "M_TOO_LARGE"}},
	{thumbnail.ErrTooManyPixels, apiError{status: 413, errcode: "M_TOO_LARGE"}},
	{thumbnail.ErrTooManyFrames, apiError{status: 413, errcode: "M_TOO_LARGE"}},
	{e2ee.ErrMalformed, apiError{status: 400, errcode: "M_BAD_JSON", reason: "MCS_MALFORMED_JSON", detail: true}},
	{e2ee.ErrFailedToDecrypt, apiError{status: 400, errcode: "M_UNKNOWN", reason: "MCS_MEDIA_FAILED_TO_DECRYPT"}},
	{e2ee.ErrBadDecryption, apiError{status: 403, errcode: "M_FORBIDDEN", reason: "MCS_BAD_DECRYPTION"}},
	{scan.ErrUnavailable, apiError{status: 502, errcode: "M_UNKNOWN", reason: "MCS_MEDIA_REQUEST_FAILED", retry: 5}},
	{ErrNotOfficer, apiError{status: 403, errcode: "M_FORBIDDEN"}},
	{ErrNotAdmin, apiError{status: 403, errcode: "M_FORBIDDEN"}},
	{ErrCSRF, apiError{status: 403, errcode: "M_FORBIDDEN", reason: "MR_CSRF"}},
	{review.ErrReasonRequired, apiError{status: 400, errcode: "M_MISSING_PARAM", detail: true}},
	{review.ErrBadFilter, apiError{status: 400, errcode: "M_INVALID_PARAM", detail: true}},
	{review.ErrNotAllowed, apiError{status: 409, errcode: "M_UNKNOWN", reason: "MR_INVALID_STATE"}},
	{review.ErrAudit, apiError{status: 503, errcode: "M_UNKNOWN", retry: 5}},
	{review.ErrNoScanQueue, apiError{status: 503, errcode: "M_UNKNOWN"}},
	{session.ErrBadCredentials, apiError{status: 403, errcode: "M_FORBIDDEN"}},
	{session.ErrHomeserver, apiError{status: 502, errcode: "M_UNKNOWN"}},
	{session.ErrNotFound, apiError{status: 401, errcode: "M_UNKNOWN_TOKEN"}},
	{session.ErrExpired, apiError{status: 401, errcode: "M_UNKNOWN_TOKEN"}},
}

// lookup returns the answer for err.
func lookup(err error) apiError {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			api := e.api
			api.msg = stableMessage(e.err)
			return api
		}
	}
	return apiError{status: 500, errcode: "M_UNKNOWN", msg: http.StatusText(500)}
}

// stableMessage is a sentinel's text without its package prefix
// ("media: not found" → "not found").
func stableMessage(sentinel error) string {
	msg := sentinel.Error()
	if pkg, rest, ok := strings.Cut(msg, ": "); ok && !strings.ContainsAny(pkg, " .") {
		return rest
	}
	return msg
}

// retryAfterError lets an error carry its own Retry-After (rate limits).
type retryAfterError struct {
	err   error
	after int
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// matrixError is the body of every Matrix API error.
type matrixError struct {
	ErrCode      string `json:"errcode"`
	Error        string `json:"error"`
	Reason       string `json:"reason,omitempty"`
	RetryAfterMS int    `json:"retry_after_ms,omitempty"`
	// MSC4335 (M_USER_LIMIT_EXCEEDED): where the limit is explained and,
	// for a soft limit, where it can be raised.
	InfoURI     string `json:"info_uri,omitempty"`
	SoftLimit   bool   `json:"soft_limit,omitempty"`
	IncreaseURI string `json:"increase_uri,omitempty"`
}

// publicMessage is what a client is told: a short stable message for the
// class of error, or the error itself where it only describes the
// client's own request. Internal details (homeserver URLs, storage keys,
// record keys, network errors) go to the log with the request ID.
func publicMessage(api apiError, err error) string {
	if api.detail {
		return err.Error()
	}
	if api.msg == "" {
		return http.StatusText(api.status)
	}
	return api.msg
}

// writeError answers err in the Matrix shape and logs server-side failures
// with the request ID. A request the client cancelled is not a failure.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	api := lookup(err)
	var ra retryAfterError
	if errors.As(err, &ra) {
		api.retry = ra.after
	}
	logFailure(r, log, api, err)
	body := matrixError{ErrCode: api.errcode, Error: publicMessage(api, err), Reason: api.reason}
	var ule *service.UserLimitError
	if errors.As(err, &ule) {
		body.InfoURI, body.IncreaseURI, body.SoftLimit = ule.InfoURI, ule.IncreaseURI, ule.IncreaseURI != ""
	}
	if api.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(api.retry))
		if api.status == http.StatusTooManyRequests {
			body.RetryAfterMS = api.retry * 1000
		}
	}
	writeJSON(w, api.status, body)
}

// logFailure logs a failure with the request ID and the details the
// client is not shown: server-side failures as errors; a request the
// client cancelled, and a wait for a verdict that ran out (the client's
// timeout_ms or the scanner's configured wait), are no failures of ours;
// other refusals are logged at debug.
func logFailure(r *http.Request, log *slog.Logger, api apiError, err error) {
	id := requestID(r.Context())
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		log.Debug("request cancelled by client", "request_id", id, "err", err)
	case errors.Is(err, media.ErrNotYetUploaded):
		log.Info("gave up waiting for a verdict", "request_id", id, "path", r.URL.Path, "status", api.status, "err", err)
	case api.status < 500:
		log.Debug("request refused", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", api.status, "err", err)
	default:
		log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", api.status, "err", err)
	}
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Disposition")
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("Accept-Ranges")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do then
}
