package icap

import (
	"context"
	"fmt"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// options is what the service announced in its OPTIONS answer.
type options struct {
	methods        []string
	preview        int // -1: no preview
	allow204       bool
	maxConnections int
	ttl            time.Duration
	istag          string
	service        string
}

// version returns the service as an engine: the product of the Service
// header ("C-ICAP/0.5.10 server - Antivirus service" → C-ICAP 0.5.10) and
// the ISTag as the signature version.
func (o options) version() scan.EngineVersion {
	ev := scan.EngineVersion{Engine: "ICAP", Version: "unknown", SignatureVersion: o.istag}
	product, _, _ := strings.Cut(strings.TrimSpace(o.service), " ")
	if name, ver, ok := strings.Cut(product, "/"); ok && name != "" && ver != "" {
		ev.Engine, ev.Version = name, ver
	} else if product != "" {
		ev.Engine = product
	}
	return ev
}

// parseOptions reads an OPTIONS answer's headers. The method, when set,
// must be among Methods.
func parseOptions(h textproto.MIMEHeader, method Method) (options, error) {
	o := options{preview: -1, istag: unquote(h.Get("ISTag")), service: h.Get("Service")}
	if o.istag == "" {
		return o, fmt.Errorf("OPTIONS answer without ISTag")
	}
	for _, line := range h.Values("Methods") {
		for m := range strings.SplitSeq(line, ",") {
			if m = strings.TrimSpace(m); m != "" {
				o.methods = append(o.methods, strings.ToUpper(m))
			}
		}
	}
	if method != "" && len(o.methods) > 0 && !slices.Contains(o.methods, string(method)) {
		return o, fmt.Errorf("the service offers %s, not %s", strings.Join(o.methods, ", "), method)
	}
	if p := h.Get("Preview"); p != "" {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return o, fmt.Errorf("OPTIONS Preview %q", p)
		}
		o.preview = n
	}
	for _, line := range h.Values("Allow") {
		for a := range strings.SplitSeq(line, ",") {
			if strings.TrimSpace(a) == "204" {
				o.allow204 = true
			}
		}
	}
	if m := h.Get("Max-Connections"); m != "" {
		n, err := strconv.Atoi(strings.TrimSpace(m))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("OPTIONS Max-Connections %q", m)
		}
		o.maxConnections = n
	}
	if t := h.Get("Options-TTL"); t != "" {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n < 0 {
			return o, fmt.Errorf("OPTIONS Options-TTL %q", t)
		}
		o.ttl = time.Duration(n) * time.Second
	}
	return o, nil
}

// options returns the cached OPTIONS answer, asking again once it is
// older than OptionsTTL (or the service's shorter Options-TTL).
func (s *Scanner) options(ctx context.Context) (options, error) {
	s.optMu.Lock()
	o, at := s.opt, s.optAt
	s.optMu.Unlock()
	ttl := s.cfg.OptionsTTL
	if o.ttl > 0 && o.ttl < ttl {
		ttl = o.ttl
	}
	if !at.IsZero() && s.now().Sub(at) < ttl {
		return o, nil
	}
	return s.fetchOptions(ctx)
}

// fetchOptions sends OPTIONS and caches the answer.
func (s *Scanner) fetchOptions(ctx context.Context) (options, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	o, err := s.sendOptions(cctx)
	if err != nil {
		return options{}, s.wrap(ctx, err)
	}
	s.optMu.Lock()
	s.opt, s.optAt = o, s.now()
	s.optMu.Unlock()
	return o, nil
}

func (s *Scanner) sendOptions(ctx context.Context) (options, error) {
	c, err := s.pool.get(ctx, s.dial)
	if err != nil {
		return options{}, err
	}
	stop := c.watch(ctx)
	defer stop()
	req := "OPTIONS " + s.uri + " ICAP/1.0\r\nHost: " + s.host + "\r\nUser-Agent: mediarepo\r\nEncapsulated: null-body=0\r\n\r\n"
	if _, err := c.conn.Write([]byte(req)); err != nil {
		c.close()
		return options{}, err
	}
	resp, err := readResponse(c.br)
	if err != nil {
		c.close()
		return options{}, err
	}
	if err := resp.discardBody(); err != nil {
		c.close()
		return options{}, err
	}
	if resp.status != 200 {
		s.pool.put(c, resp.keepAlive())
		return options{}, fmt.Errorf("OPTIONS answered %d %s", resp.status, resp.reason)
	}
	o, err := parseOptions(resp.header, s.cfg.Method)
	s.pool.put(c, resp.keepAlive())
	return o, err
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
