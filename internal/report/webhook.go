package report

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" with the
// shared secret; the receiver recomputes it to know the report is ours.
const SignatureHeader = "X-Mediarepo-Signature"

// Webhook POSTs each report as JSON to an HTTPS endpoint, signed with
// HMAC-SHA256. A 2xx answer means taken.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// Name implements Sink.
func (w *Webhook) Name() string { return "webhook" }

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, r Report) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, w.Secret)
	mac.Write(body)
	err = send(ctx, w.Client, http.MethodPost, w.URL, body, http.Header{
		SignatureHeader:         {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
		"X-Mediarepo-Report-ID": {r.ID},
	}, func(code int) bool { return code/100 == 2 })
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// send makes one JSON request and reports an error unless ok(status).
func send(ctx context.Context, c *http.Client, method, url string, body []byte, h http.Header, ok func(int) bool) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if !ok(resp.StatusCode) {
		return fmt.Errorf("%s answered %s", req.URL.Redacted(), resp.Status)
	}
	return nil
}

// VerifySignature reports whether header is the signature of body with
// secret (for receivers and tests).
func VerifySignature(secret, body []byte, header string) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal([]byte(header), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
}
