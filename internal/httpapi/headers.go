package httpapi

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// mediaCSP is sent on every media response (design §3).
const mediaCSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"

// inlineTypes are the spec's 26 types that may be shown inline; anything
// else (SVG and HTML above all) is served as an attachment.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true,
	"application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true,
	"image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true,
	"audio/ogg": true, "audio/wave": true, "audio/wav": true, "audio/x-wav": true,
	"audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// isInline reports whether contentType (parameters ignored) may be inline.
func isInline(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return inlineTypes[mt]
}

// setSecurityHeaders sets the headers every media response carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", mediaCSP)
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "private")
}

// contentDisposition builds the Content-Disposition header: inline only for
// the safe types, the filename as an RFC 6266 quoted ASCII fallback plus an
// RFC 5987 filename* with the UTF-8 name. Control characters, quotes,
// backslashes, ';' and path separators never reach the header raw.
func contentDisposition(contentType, filename string) string {
	disp := "attachment"
	if isInline(contentType) {
		disp = "inline"
	}
	name := cleanFilename(filename)
	if name == "" {
		return disp
	}
	return disp + `; filename="` + asciiFallback(name) + `"; filename*=utf-8''` + rfc5987(name)
}

// cleanFilename drops control characters and path components and trims
// the name to 255 bytes on a rune boundary.
func cleanFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			continue
		}
		if b.Len()+len(string(r)) > 255 {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// asciiFallback replaces what a quoted-string cannot safely hold.
func asciiFallback(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '"' || r == '\\' || r == ';' || r == '%' || r > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// rfc5987 percent-encodes everything but RFC 5987's attr-char.
func rfc5987(name string) string {
	const attrChar = "!#$&+-.^_`|~"
	var b strings.Builder
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attrChar, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
