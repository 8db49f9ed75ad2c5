package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// caddyMatchers are mediaPrefixes as Caddy path matchers.
func caddyMatchers() []string {
	var m []string
	for _, p := range mediaPrefixes {
		m = append(m, p+"/*")
	}
	slices.Sort(m)
	return m
}

func TestProxyRoutesExactlyTheMediaPrefixes(t *testing.T) {
	f, err := os.Open(filepath.Join(composeDir, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	routes, err := proxyRoutes(f)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(routes["mediarepo:8008"]))
	if want := caddyMatchers(); !slices.Equal(got, want) {
		t.Errorf("routed to mediarepo: %v, want exactly %v", got, want)
	}
	if hs := routes["synapse:8008"]; !slices.Equal(hs, []string{"*"}) {
		t.Errorf("routed to the homeserver: %v, want everything else", hs)
	}
	for upstream := range routes {
		if strings.HasSuffix(upstream, ":8009") {
			t.Errorf("the proxy routes to an admin listener: %s", upstream)
		}
	}
	p := loadRepoCompose(t)
	for upstream := range routes {
		if _, ok := p.Services[strings.Split(upstream, ":")[0]]; !ok {
			t.Errorf("upstream %s is no compose service", upstream)
		}
	}
}

func TestProxyRoutesReadsHandles(t *testing.T) {
	const caddy = `:8080 {
	@m path /_matrix/media/* /_matrix/media_proxy/*   # media
	@a path /admin/*
	handle @m {
		reverse_proxy mediarepo:8008
	}
	handle @a {
		reverse_proxy mediarepo:8009
	}
	handle {
		reverse_proxy synapse:8008
	}
}
`
	routes, err := proxyRoutes(strings.NewReader(caddy))
	if err != nil {
		t.Fatal(err)
	}
	if got := routes["mediarepo:8008"]; !slices.Equal(got, []string{"/_matrix/media/*", "/_matrix/media_proxy/*"}) {
		t.Errorf("mediarepo:8008 gets %v", got)
	}
	if got := routes["mediarepo:8009"]; !slices.Equal(got, []string{"/admin/*"}) {
		t.Errorf("mediarepo:8009 gets %v", got)
	}
	if _, err := proxyRoutes(strings.NewReader("handle @nope {\n reverse_proxy x:1\n}\n")); err == nil {
		t.Error("an unknown matcher was accepted")
	}
}
