package httpapi

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// openAPIDoc is the part of an OpenAPI document the agreement tests read.
type openAPIDoc struct {
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths map[string]map[string]yaml.Node `yaml:"paths"`
}

// checkOpenAPI fails when a route is missing from the document at path, or
// the document lists a path or method the routes do not serve.
func checkOpenAPI(t *testing.T, path string, routes []route) openAPIDoc {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				documented[p] = append(documented[p], strings.ToUpper(m))
			}
		}
		sort.Strings(documented[p])
	}
	served := map[string][]string{}
	for _, rt := range routes {
		served[rt.path] = slices.Sorted(slices.Values(rt.methods))
	}
	for p, methods := range served {
		if !slices.Equal(documented[p], methods) {
			t.Errorf("%s: router serves %v, %s documents %v", p, methods, path, documented[p])
		}
	}
	for p := range documented {
		if _, ok := served[p]; !ok {
			t.Errorf("%s: documented in %s but not served", p, path)
		}
	}
	return doc
}

// TestOpenAPIMatchesRouter: the public API and api/openapi.yaml agree.
func TestOpenAPIMatchesRouter(t *testing.T) {
	checkOpenAPI(t, "../../api/openapi.yaml", (&API{}).routeTable())
}

// TestAdminOpenAPIMatchesRouter: the officers' API and
// api/admin-openapi.yaml agree, and its server URL ends in the API prefix.
func TestAdminOpenAPIMatchesRouter(t *testing.T) {
	doc := checkOpenAPI(t, "../../api/admin-openapi.yaml", (&Admin{}).adminAPIRoutes())
	if len(doc.Servers) != 1 || !strings.HasSuffix(doc.Servers[0].URL, AdminAPIPrefix) {
		t.Errorf("servers: %+v, want one URL ending in %s", doc.Servers, AdminAPIPrefix)
	}
}
