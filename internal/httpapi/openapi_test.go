package httpapi

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesRouter fails when a route is missing from
// api/openapi.yaml, or the document lists a path or method the router
// does not serve.
func TestOpenAPIMatchesRouter(t *testing.T) {
	raw, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{}
	for path, ops := range doc.Paths {
		for m := range ops {
			documented[path] = append(documented[path], strings.ToUpper(m))
		}
		sort.Strings(documented[path])
	}
	served := map[string][]string{}
	for _, rt := range (&API{}).routeTable() {
		served[rt.path] = slices.Sorted(slices.Values(rt.methods))
	}
	for path, methods := range served {
		if !slices.Equal(documented[path], methods) {
			t.Errorf("%s: router serves %v, openapi.yaml documents %v", path, methods, documented[path])
		}
	}
	for path := range documented {
		if _, ok := served[path]; !ok {
			t.Errorf("%s: documented but not served", path)
		}
	}
}
