package preview

import (
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
)

// Limits on what one page contributes to a preview.
const (
	// maxTags caps the og:* properties taken from one page.
	maxTags = 32
	// maxValue caps one property's value (runes); descriptions are
	// shorter (maxDescription), as Synapse summarises them.
	maxValue       = 1000
	maxDescription = 500
)

// OpenGraph parses an HTML page into Open Graph properties, as Synapse
// answers them: every og:* meta property (the first of each), og:title
// falling back to twitter:title and <title>, og:description to
// twitter:description and <meta name="description">, og:image to
// twitter:image. r yields the page's bytes (already cut to the size limit);
// contentType is the answer's Content-Type, whose charset (or else the
// page's BOM or <meta charset>) decodes it. A page that is not HTML at all
// yields what could be parsed, possibly nothing. Parsing uses the
// maintained tokenizer of golang.org/x/net/html; values are unescaped,
// whitespace-collapsed, valid UTF-8 and capped.
func OpenGraph(r io.Reader, contentType string) map[string]string {
	dec, err := charset.NewReader(r, contentType)
	if err != nil { // an unknown charset: read the bytes as they are, invalid UTF-8 is dropped below
		dec = r
	}
	og := map[string]string{}
	fallback := map[string]string{}
	z := html.NewTokenizer(dec)
	var inTitle bool
	var title strings.Builder
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			// io.EOF, a page cut at the size limit or a broken encoding:
			// keep what was parsed.
			return finish(og, fallback, title.String())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "title":
				inTitle = tt == html.StartTagToken && title.Len() == 0
			case "meta":
				if hasAttr {
					meta(z, og, fallback)
				}
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == "title" {
				inTitle = false
			}
		case html.TextToken:
			if inTitle && title.Len() < 4*maxValue {
				title.Write(z.Text())
			}
		}
	}
}

// meta reads one <meta> tag's property/name and content.
func meta(z *html.Tokenizer, og, fallback map[string]string) {
	var key, content string
	var hasContent bool
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "property", "name":
			if key == "" || strings.HasPrefix(strings.ToLower(string(v)), "og:") {
				key = strings.ToLower(strings.TrimSpace(string(v)))
			}
		case "content":
			content, hasContent = string(v), true
		}
		if !more {
			break
		}
	}
	if key == "" || !hasContent {
		return
	}
	switch {
	case strings.HasPrefix(key, "og:"):
		if _, seen := og[key]; !seen && len(og) < maxTags {
			og[key] = content
		}
	case key == "description", key == "twitter:title", key == "twitter:description", key == "twitter:image":
		if _, seen := fallback[key]; !seen {
			fallback[key] = content
		}
	}
}

// finish applies the fallbacks and cleans every value.
func finish(og, fallback map[string]string, title string) map[string]string {
	first := func(key string, alternatives ...string) {
		if clean(og[key], maxValue) != "" {
			return
		}
		for _, a := range alternatives {
			if v := clean(a, maxValue); v != "" {
				og[key] = v
				return
			}
		}
	}
	first("og:title", fallback["twitter:title"], title)
	first("og:description", fallback["twitter:description"], fallback["description"])
	first("og:image", fallback["twitter:image"])
	out := map[string]string{}
	for k, v := range og {
		limit := maxValue
		if k == "og:description" {
			limit = maxDescription
		}
		if v = clean(v, limit); v != "" {
			out[k] = v
		}
	}
	return out
}

// clean collapses whitespace, drops invalid UTF-8 and control characters,
// and cuts s to limit runes (with an ellipsis).
func clean(s string, limit int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit-1]) + "…"
	}
	return s
}
