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
	Check(ctx context.Context, origin, id string, f e2ee.EncryptedFile, wait time.Duration) (media.Record, media.Verdict, error)
}

// ScannerOptions wire the content-scanner API.
type ScannerOptions struct {
	// Keys is the server's Curve25519 key pair for encrypted_body.
	Keys *e2ee.KeyPair
	// Checker scans encrypted attachments with their keys.
	Checker EncryptedChecker
	// Wait bounds how long an answer waits for a verdict.
	Wait time.Duration
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
	if err := a.downloads.allow(userID(r.Context())); err != nil {
		return err
	}
	return a.serveMedia(w, r, a.opts.Scanner.Wait, time.Time{})
}

// mcsThumbnail serves the thumbnail of clean media, waiting for the
// verdict up to the scanner's maximum.
func (a *API) mcsThumbnail(w http.ResponseWriter, r *http.Request) error {
	if err := a.downloads.allow(userID(r.Context())); err != nil {
		return err
	}
	return a.serveThumbnail(w, r, a.opts.Scanner.Wait, time.Time{})
}

// mcsScan answers the verdict of unencrypted media.
func (a *API) mcsScan(w http.ResponseWriter, r *http.Request) error {
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
		res := scanResult{Info: "***VIRUS DETECTED***"}
		var nse *service.NotServedError
		if errors.As(err, &nse) && nse.Record.Verdict != nil && nse.Record.Verdict.Result != media.ResultInfected &&
			nse.Record.Verdict.Result != media.ResultClean { // a quarantine keeps the scan's verdict: never say clean
			res = resultOf(*nse.Record.Verdict)
		}
		if errors.Is(err, service.ErrOpaque) {
			res.Info = "Encrypted content: check it with scan_encrypted"
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	return err
}

// readScanRequest parses the body of scan_encrypted / download_encrypted.
func (a *API) readScanRequest(r *http.Request) (e2ee.EncryptedFile, e2ee.MXC, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxScanBody+1))
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
	f, mxc, err := a.readScanRequest(r)
	if err != nil {
		return err
	}
	_, v, err := a.opts.Scanner.Checker.Check(r.Context(), mxc.Origin, mxc.MediaID, f, a.opts.Scanner.Wait)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resultOf(v))
	return nil
}

// mcsDownloadEncrypted returns the still-encrypted bytes once their
// plaintext scanned clean under the client's key.
func (a *API) mcsDownloadEncrypted(w http.ResponseWriter, r *http.Request) error {
	f, mxc, err := a.readScanRequest(r)
	if err != nil {
		return err
	}
	rec, v, err := a.opts.Scanner.Checker.Check(r.Context(), mxc.Origin, mxc.MediaID, f, a.opts.Scanner.Wait)
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

// writeMCSError answers err in the content scanner's shape, from the same
// table as the Matrix errors: the MCS reason where the table has one, the
// Matrix errcode for not-found and auth errors, MCS_MEDIA_REQUEST_FAILED
// for every failure to fetch or scan.
func writeMCSError(w http.ResponseWriter, r *http.Request, a *API, err error) {
	api := lookup(err)
	var ra retryAfterError
	if errors.As(err, &ra) {
		api.retry = ra.after
	}
	logFailure(r, a.log, api, err)
	reason := api.reason
	switch {
	case reason != "":
	case api.status >= 500:
		reason = "MCS_MEDIA_REQUEST_FAILED"
	default:
		reason = api.errcode
	}
	if api.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(api.retry))
	}
	writeJSON(w, api.status, mcsError{Reason: reason, Info: publicMessage(api, err)})
}

// isScannerRoute reports whether a path belongs to the content-scanner API.
func isScannerRoute(path string) bool { return strings.HasPrefix(path, scannerPrefix+"/") }
