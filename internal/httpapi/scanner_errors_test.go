package httpapi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mediarepo/mediarepo/internal/media"
)

// TestScannerErrorsUseDocumentedReasons: every answer of the error table,
// written on a content-scanner route, carries one of the reasons the
// content-scanner API documents (matrix-rust-sdk refuses any other) with
// that reason's status, except 429 and 503/504 which keep Retry-After.
func TestScannerErrorsUseDocumentedReasons(t *testing.T) {
	kept := map[int]bool{429: true, 502: true, 503: true, 504: true}
	rows := append(errorTable, struct {
		err error
		api apiError
	}{errors.New("anything else"), apiError{status: 500, errcode: "M_UNKNOWN"}})
	for _, row := range rows {
		status, reason := mcsAnswer(row.api)
		want, ok := mcsReasons[reason]
		if !ok {
			t.Errorf("%v: reason %q is not documented", row.err, reason)
			continue
		}
		if status != want && !kept[status] && !(status == 403 && reason == "M_UNKNOWN") {
			t.Errorf("%v: %d %s, the API documents %d for it", row.err, status, reason, want)
		}
	}
	for _, tc := range []struct {
		err    error
		status int
		reason string
	}{
		{ErrUnrecognized, 404, "M_NOT_FOUND"},
		{errMethod, 404, "M_NOT_FOUND"},
		{ErrBadRequest, 400, "MCS_MALFORMED_JSON"},
		{retryAfterError{err: fmt.Errorf("%w: too many", media.ErrLimitExceeded), after: 3}, 429, "MCS_MEDIA_REQUEST_FAILED"},
		{media.ErrNotYetUploaded, 504, "MCS_MEDIA_REQUEST_FAILED"},
		{media.ErrTypeForbidden, 403, "MCS_MIME_TYPE_FORBIDDEN"},
		{media.ErrNotClean, 403, "MCS_MEDIA_NOT_CLEAN"},
		{media.ErrNotFound, 404, "M_NOT_FOUND"},
	} {
		status, reason := mcsAnswer(lookup(tc.err))
		if status != tc.status || reason != tc.reason {
			t.Errorf("%v: %d %s, want %d %s", tc.err, status, reason, tc.status, tc.reason)
		}
	}
}
