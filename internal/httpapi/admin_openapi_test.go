package httpapi

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestAdminOpenAPIMatchesRouter fails when an officers' API route is
// missing from api/admin-openapi.yaml, or the document lists a path or
// method the router does not serve.
func TestAdminOpenAPIMatchesRouter(t *testing.T) {
	raw, err := os.ReadFile("../../api/admin-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct {
			URL string `yaml:"url"`
		} `yaml:"servers"`
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || !strings.HasSuffix(doc.Servers[0].URL, AdminAPIPrefix) {
		t.Errorf("servers: %+v, want one URL ending in %s", doc.Servers, AdminAPIPrefix)
	}
	documented := map[string][]string{}
	for path, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				documented[path] = append(documented[path], strings.ToUpper(m))
			}
		}
		sort.Strings(documented[path])
	}
	served := map[string][]string{}
	for _, rt := range (&Admin{}).adminAPIRoutes() {
		served[rt.path] = slices.Sorted(slices.Values(rt.methods))
	}
	for path, methods := range served {
		if !slices.Equal(documented[path], methods) {
			t.Errorf("%s: router serves %v, admin-openapi.yaml documents %v", path, methods, documented[path])
		}
	}
	for path := range documented {
		if _, ok := served[path]; !ok {
			t.Errorf("%s: documented but not served", path)
		}
	}
}
