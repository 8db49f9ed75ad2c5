// Package web holds the officers' page: HTML templates and the style
// sheet, embedded in the binary (no CDN, no script). Every page is parsed
// together with layout.html, which defines the frame and calls the page's
// "content" template.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed assets/*
var assets embed.FS

// PageNames are the pages Pages parses.
var PageNames = []string{"login", "list", "details", "user", "audit", "error", "continue"}

// Pages parses every page with the layout and funcs; the result maps a
// page name to its template, executed as "layout".
func Pages(funcs template.FuncMap) (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(PageNames))
	for _, name := range PageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templates, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// Assets returns the static files (style.css), served under /assets/.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory exists at compile time
	}
	return sub
}
