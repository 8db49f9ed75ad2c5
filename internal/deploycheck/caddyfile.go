package deploycheck

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// proxyRoutes reads the site block of a Caddyfile in the shape of
// deploy/compose/Caddyfile — named path matchers ("@name path P..."),
// "handle [@name] {" blocks with one "reverse_proxy UPSTREAM" each — and
// returns the path patterns routed to each upstream; a handle without a
// matcher contributes the pattern "*" (everything else).
func proxyRoutes(r io.Reader) (map[string][]string, error) {
	matchers := map[string][]string{}
	routes := map[string][]string{}
	var current []string // patterns of the open handle block
	inHandle := false
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case strings.HasPrefix(f[0], "@"):
			if len(f) < 3 || f[1] != "path" {
				return nil, fmt.Errorf("line %d: only path matchers are understood: %q", n, line)
			}
			matchers[f[0]] = append(matchers[f[0]], f[2:]...)
		case f[0] == "handle":
			if inHandle {
				return nil, fmt.Errorf("line %d: nested handle", n)
			}
			inHandle = true
			switch {
			case len(f) == 2 && f[1] == "{":
				current = []string{"*"}
			case len(f) == 3 && f[2] == "{":
				m, ok := matchers[f[1]]
				if !ok {
					return nil, fmt.Errorf("line %d: unknown matcher %s", n, f[1])
				}
				current = m
			default:
				return nil, fmt.Errorf("line %d: want \"handle [@matcher] {\": %q", n, line)
			}
		case f[0] == "reverse_proxy":
			if !inHandle || len(f) != 2 {
				return nil, fmt.Errorf("line %d: want one reverse_proxy UPSTREAM inside a handle block: %q", n, line)
			}
			routes[f[1]] = append(routes[f[1]], current...)
		case f[0] == "}":
			inHandle = false
		}
	}
	return routes, sc.Err()
}
