package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
)

// metadataLimit caps the JSON part of a multipart answer.
const metadataLimit = 64 << 10

// Media is remote media being downloaded.
type Media struct {
	// Body streams the content; reading past the size cap fails with
	// ErrRemoteTooLarge. The caller closes it.
	Body io.ReadCloser
	// ContentType is the type the remote server declared ("" if none).
	ContentType string
	// Filename is from the part's Content-Disposition ("" if none).
	Filename string
	// Length is the declared length, or -1.
	Length int64
}

// readAnswer parses a federation media answer: multipart/mixed with a
// JSON object first, then either the bytes or a Location to follow.
func (c *Client) readAnswer(ctx context.Context, resp *http.Response) (*Media, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: answer is %q, not multipart/mixed", ErrRemoteFailed, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	meta, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("%w: metadata part: %v", ErrRemoteFailed, err)
	}
	b, err := io.ReadAll(io.LimitReader(meta, metadataLimit+1))
	if err != nil || len(b) > metadataLimit {
		return nil, fmt.Errorf("%w: metadata part unreadable or over %d bytes", ErrRemoteFailed, metadataLimit)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%w: metadata part is not a JSON object: %v", ErrRemoteFailed, err)
	}
	part, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("%w: content part: %v", ErrRemoteFailed, err)
	}
	if loc := part.Header.Get("Location"); loc != "" {
		resp.Body.Close()
		return c.follow(ctx, loc)
	}
	return c.media(part, part.Header, -1)
}

// follow fetches the content a Location part points to, through the
// same address-checking dialer (redirects included).
func (c *Client) follow(ctx context.Context, loc string) (*Media, error) {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: Location %q is not an absolute http(s) URL", ErrRemoteFailed, loc)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRemoteFailed, err)
	}
	req.Header.Set("User-Agent", "mediarepo")
	resp, err := c.plain.Do(req)
	if err != nil {
		if errors.Is(err, ErrAddressForbidden) || errors.Is(err, ErrRemoteFailed) {
			return nil, fmt.Errorf("following Location: %w", err)
		}
		return nil, fmt.Errorf("%w: following Location: %w", ErrRemoteFailed, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Location answered %d", ErrRemoteFailed, resp.StatusCode)
	}
	m, err := c.media(resp.Body, textproto.MIMEHeader(resp.Header), resp.ContentLength)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	m.Body = &bodyCloser{Reader: m.Body, closers: []func() error{resp.Body.Close}}
	return m, nil
}

// media describes one content stream with its headers, under the cap.
func (c *Client) media(r io.Reader, h textproto.MIMEHeader, length int64) (*Media, error) {
	if cl := h.Get("Content-Length"); cl != "" && length < 0 {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			length = n
		}
	}
	if c.opts.MaxSize > 0 && length > c.opts.MaxSize {
		return nil, fmt.Errorf("%w: %d bytes declared, %d allowed", ErrRemoteTooLarge, length, c.opts.MaxSize)
	}
	m := &Media{ContentType: h.Get("Content-Type"), Length: length}
	if _, p, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		m.Filename = p["filename"]
	}
	m.Body = io.NopCloser(&capped{r: r, max: c.opts.MaxSize})
	return m, nil
}

// capped fails with ErrRemoteTooLarge once more than max bytes were read
// (max ≤ 0: no cap).
type capped struct {
	r   io.Reader
	max int64
	n   int64
}

func (c *capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.max > 0 && c.n > c.max {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrRemoteTooLarge, c.max)
	}
	return n, err
}

// bodyCloser runs every closer once, returning the first error.
type bodyCloser struct {
	io.Reader
	closers []func() error
	closed  bool
}

func (b *bodyCloser) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var first error
	for _, c := range b.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// MultipartWriter writes a federation media answer: the JSON metadata
// part ({}), then one content part. Set ContentType() as the response's
// Content-Type before writing.
type MultipartWriter struct {
	mw *multipart.Writer
}

// NewMultipartWriter returns a writer onto w with a random boundary.
func NewMultipartWriter(w io.Writer) *MultipartWriter {
	return &MultipartWriter{mw: multipart.NewWriter(w)}
}

// ContentType is the multipart/mixed type with the boundary.
func (m *MultipartWriter) ContentType() string {
	return mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": m.mw.Boundary()})
}

// WriteMedia writes the metadata part and the content part with its type
// and disposition, copies body into it and closes the multipart stream.
func (m *MultipartWriter) WriteMedia(contentType, disposition string, body io.Reader) error {
	meta, err := m.mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(meta, "{}"); err != nil {
		return err
	}
	h := textproto.MIMEHeader{"Content-Type": {contentType}}
	if disposition != "" {
		h.Set("Content-Disposition", disposition)
	}
	part, err := m.mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, body); err != nil {
		return err
	}
	return m.mw.Close()
}
