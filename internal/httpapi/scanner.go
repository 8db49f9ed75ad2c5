package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
)

// scannerPrefix is where Element's content-scanner API is served. Its
// errors take the scanner's shape {"reason", "info"}.
const scannerPrefix = "/_matrix/media_proxy/unstable"

// EncryptedChecker checks an encrypted attachment with the client's key
// (service.Encrypted).
type EncryptedChecker interface {
	Check(ctx context.Context, origin, id string, f e2ee.EncryptedFile, wait time.Duration, requester string) (media.Record, media.Verdict, error)
}

// ScannerOptions wire the content-scanner API.
type ScannerOptions struct {
	// Keys is the server's Curve25519 key pair for encrypted_body.
	Keys *e2ee.KeyPair
	// Checker scans encrypted attachments with their keys.
	Checker EncryptedChecker
	// Wait bounds how long an answer waits for a verdict.
	Wait time.Duration
	// AllowUnauthenticated admits requests without a token on the
	// scanner's media routes (legacy Element Android, BundesMessenger
	// Android), AnonymousPerSecond/AnonymousBurst per client address.
	AllowUnauthenticated bool
	AnonymousPerSecond   float64
	AnonymousBurst       int
}

// maxScanBody bounds the JSON of scan_encrypted and download_encrypted.
const maxScanBody = 64 << 10

func (a *API) scannerRoutes() []route {
	p := scannerPrefix
	return []route{
		{"mcs_download", p + "/download/{serverName}/{mediaId}", []string{"GET"}, true, a.mcsDownload},
		{"mcs_thumbnail", p + "/thumbnail/{serverName}/{mediaId}", []string{"GET"}, true, a.mcsThumbnail},
		{"mcs_scan", p + "/scan/{serverName}/{mediaId}", []string{"GET"}, true, a.mcsScan},
		{"mcs_scan_encrypted", p + "/scan_encrypted", []string{"POST"}, true, a.mcsScanEncrypted},
		{"mcs_download_encrypted", p + "/download_encrypted", []string{"POST"}, true, a.mcsDownloadEncrypted},
		{"mcs_public_key", p + "/public_key", []string{"GET"}, false, a.mcsPublicKey},
	}
}

// scanResult is the scanner's verdict answer.
type scanResult struct {
	Clean bool   `json:"clean"`
	Info  string `json:"info"`
}

func resultOf(v media.Verdict) scanResult {
	switch v.Result {
	case media.ResultClean:
		return scanResult{Clean: true, Info: "File is clean"}
	case media.ResultInfected:
		return scanResult{Info: "***VIRUS DETECTED***"}
	}
	return scanResult{Info: "File could not be scanned: " + string(v.Result)}
}

// mcsDownload serves clean media like the Matrix download, waiting for the
// verdict up to the scanner's maximum.
func (a *API) mcsDownload(w http.ResponseWriter, r *http.Request) error {
	if err := a.downloads.allow(rateKey(r.Context())); err != nil {
		return err
	}
	return a.serveMedia(w, r, a.opts.Scanner.Wait, time.Time{})
}

// mcsThumbnail serves the thumbnail of clean media, waiting for the
// verdict up to the scanner's maximum.
func (a *API) mcsThumbnail(w http.ResponseWriter, r *http.Request) error {
	if err := a.downloads.allow(rateKey(r.Context())); err != nil {
		return err
	}
	return a.serveThumbnail(w, r, a.opts.Scanner.Wait, time.Time{})
}

// mcsScan answers the verdict of unencrypted media.
func (a *API) mcsScan(w http.ResponseWriter, r *http.Request) error {
	if err := a.scans.allow(r.Context()); err != nil {
		return err
	}
	server, id, err := pathMedia(r)
	if err != nil {
		return err
	}
	_, err = a.media.Download(r.Context(), server, id, a.opts.Scanner.Wait)
	switch {
	case err == nil:
		// Served media is clean, whatever verdict it kept: an officer's
		// release leaves the infected verdict in place, and records
		// cleared without a scan have none (answer from the state).
		writeJSON(w, http.StatusOK, scanResult{Clean: true, Info: "File is clean"})
		return nil
	case errors.Is(err, media.ErrTypeForbidden):
		return err
	case errors.Is(err, media.ErrNotClean):
		writeJSON(w, http.StatusOK, notCleanResult(err))
		return nil
	}
	return err
}

// notCleanResult words the verdict of media that is not served: never
// "clean", and the scan's own finding where the record keeps one.
func notCleanResult(err error) scanResult {
	res := scanResult{Info: "***VIRUS DETECTED***"}
	var nse *service.NotServedError
	if errors.As(err, &nse) && nse.Record.Verdict != nil && nse.Record.Verdict.Result != media.ResultInfected &&
		nse.Record.Verdict.Result != media.ResultClean { // a quarantine keeps the scan's verdict: never say clean
		res = resultOf(*nse.Record.Verdict)
	}
	if errors.Is(err, service.ErrOpaque) {
		res.Info = "Encrypted content: check it with scan_encrypted"
	}
	return res
}

// readScanRequest parses the body of scan_encrypted / download_encrypted.
func (a *API) readScanRequest(r *http.Request) (e2ee.EncryptedFile, e2ee.MXC, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxScanBody+1))
	if errors.Is(err, errTooSlow) {
		return e2ee.EncryptedFile{}, e2ee.MXC{}, err
	}
	if err != nil {
		return e2ee.EncryptedFile{}, e2ee.MXC{}, fmt.Errorf("%w: reading the body: %v", e2ee.ErrMalformed, err)
	}
	if len(body) > maxScanBody {
		return e2ee.EncryptedFile{}, e2ee.MXC{}, fmt.Errorf("%w: body over %d bytes", e2ee.ErrMalformed, maxScanBody)
	}
	return e2ee.ParseScanRequest(body, a.opts.Scanner.Keys)
}

// mcsScanEncrypted answers the verdict of an encrypted attachment's
// plaintext under the client's key.
func (a *API) mcsScanEncrypted(w http.ResponseWriter, r *http.Request) error {
	release, err := a.scans.start(r.Context())
	if err != nil {
		return err
	}
	f, mxc, err := a.readScanRequest(r)
	if err != nil {
		release()
		return err
	}
	_, v, err := a.opts.Scanner.Checker.Check(r.Context(), mxc.Origin, mxc.MediaID, f, a.opts.Scanner.Wait, requester(r.Context()))
	release()
	switch {
	case err == nil:
	case errors.Is(err, media.ErrNotClean) && !errors.Is(err, media.ErrTypeForbidden):
		// Already quarantined or blocked: the documented answer is the
		// verdict, as /scan gives it, not an error.
		writeJSON(w, http.StatusOK, notCleanResult(err))
		return nil
	default:
		return err
	}
	writeJSON(w, http.StatusOK, resultOf(v))
	return nil
}

// mcsDownloadEncrypted returns the still-encrypted bytes once their
// plaintext scanned clean under the client's key.
func (a *API) mcsDownloadEncrypted(w http.ResponseWriter, r *http.Request) error {
	release, err := a.scans.start(r.Context())
	if err != nil {
		return err
	}
	f, mxc, err := a.readScanRequest(r)
	if err != nil {
		release()
		return err
	}
	rec, v, err := a.opts.Scanner.Checker.Check(r.Context(), mxc.Origin, mxc.MediaID, f, a.opts.Scanner.Wait, requester(r.Context()))
	release() // streaming the ciphertext afterwards needs no scan slot
	if err != nil {
		return err
	}
	if v.Result != media.ResultClean {
		return fmt.Errorf("%w: %s", media.ErrNotClean, resultOf(v).Info)
	}
	setSecurityHeaders(w.Header())
	return a.stream(w, r, rec, "application/octet-stream", rec.Filename)
}

// mcsPublicKey returns the server's Curve25519 public key (no auth).
func (a *API) mcsPublicKey(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"public_key": a.opts.Scanner.Keys.PublicKeyBase64()})
	return nil
}

// mcsError is the scanner's error body.
type mcsError struct {
	Reason string `json:"reason"`
	Info   string `json:"info"`
}

// mcsReasons are the reason values Element's content-scanner API
// documents (matrix-content-scanner-python docs/api.md); matrix-rust-sdk's
// content-scanner crate deserialises exactly these, and an answer with any
// other reason fails to parse in Element X.
var mcsReasons = map[string]int{
	"MCS_MALFORMED_JSON":          http.StatusBadRequest,
	"MCS_MEDIA_FAILED_TO_DECRYPT": http.StatusBadRequest,
	"M_MISSING_TOKEN":             http.StatusUnauthorized,
	"M_UNKNOWN_TOKEN":             http.StatusUnauthorized,
	"M_NOT_FOUND":                 http.StatusNotFound,
	"MCS_MEDIA_NOT_CLEAN":         http.StatusForbidden,
	"MCS_MIME_TYPE_FORBIDDEN":     http.StatusForbidden,
	"MCS_BAD_DECRYPTION":          http.StatusForbidden,
	"M_UNKNOWN":                   http.StatusInternalServerError,
	"MCS_MEDIA_REQUEST_FAILED":    http.StatusBadGateway,
}

// mcsAnswer maps an answer of the error table onto the content scanner's
// documented reasons and their statuses: bad parameters and bodies are
// 400 MCS_MALFORMED_JSON; unknown routes, wrong methods and unknown media
// 404 M_NOT_FOUND; media that cannot be served as asked (too large for a
// thumbnail) and every failure to fetch or scan 502
// MCS_MEDIA_REQUEST_FAILED, keeping 503/504 with Retry-After for "try
// again"; a rate limit keeps 429 and Retry-After (the one status the API
// does not list, which every HTTP client understands) with the reason
// MCS_MEDIA_REQUEST_FAILED; a refusal that is not about the content keeps
// 403 with M_UNKNOWN; anything else 500 M_UNKNOWN.
func mcsAnswer(api apiError) (status int, reason string) {
	if st, ok := mcsReasons[api.reason]; ok {
		if api.status >= 500 { // 502/503/504 with Retry-After stay as they are
			return api.status, api.reason
		}
		return st, api.reason
	}
	switch {
	case api.status == http.StatusUnauthorized && api.errcode == "M_MISSING_TOKEN":
		return api.status, api.errcode
	case api.status == http.StatusUnauthorized:
		return api.status, "M_UNKNOWN_TOKEN"
	case api.status == http.StatusTooManyRequests:
		return api.status, "MCS_MEDIA_REQUEST_FAILED"
	case api.status == http.StatusNotFound, api.status == http.StatusMethodNotAllowed:
		return http.StatusNotFound, "M_NOT_FOUND"
	case api.status == http.StatusRequestEntityTooLarge:
		return http.StatusBadGateway, "MCS_MEDIA_REQUEST_FAILED"
	case api.status == http.StatusForbidden: // refused for a reason other than the content
		return api.status, "M_UNKNOWN"
	case api.status >= 400 && api.status < 500:
		return http.StatusBadRequest, "MCS_MALFORMED_JSON"
	case api.status == http.StatusBadGateway, api.status == http.StatusServiceUnavailable, api.status == http.StatusGatewayTimeout:
		return api.status, "MCS_MEDIA_REQUEST_FAILED"
	}
	return http.StatusInternalServerError, "M_UNKNOWN"
}

// writeMCSError answers err in the content scanner's shape, from the same
// table as the Matrix errors, mapped onto the documented reasons
// (mcsAnswer).
func writeMCSError(w http.ResponseWriter, r *http.Request, a *API, err error) {
	api := lookup(err)
	var ra retryAfterError
	if errors.As(err, &ra) {
		api.retry = ra.after
	}
	logFailure(r, a.log, api, err)
	status, reason := mcsAnswer(api)
	if api.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(api.retry))
	}
	info := publicMessage(api, err)
	if status == http.StatusInternalServerError {
		info = http.StatusText(status)
	}
	writeJSON(w, status, mcsError{Reason: reason, Info: info})
}

// isScannerRoute reports whether a path belongs to the content-scanner API.
func isScannerRoute(path string) bool { return strings.HasPrefix(path, scannerPrefix+"/") }
