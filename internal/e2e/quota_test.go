package e2e

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestQuotasOverHTTP: MSC4034's usage and config fields and MSC4335's
// refusal through the built binary; a refused upload stores nothing.
func TestQuotasOverHTTP(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.extra = `quotas:
  max_bytes: 25000
  max_files: 5
  overrides:
    - users: ["@bob:*"]
      max_bytes: 0
      max_files: 0
  info_uri: https://example.org/storage-help
`
	in := start(t, s)
	upload := func(token string, n int) (int, []byte) {
		status, _, body := do(t, "POST", in.URL+"/_matrix/media/v3/upload", token, bytes.NewReader(testenv.Random(n)),
			map[string]string{"Content-Type": "application/octet-stream"})
		return status, body
	}
	getJSON := func(path, token string) map[string]any {
		status, _, body := do(t, "GET", in.URL+path, token, nil, nil)
		var m map[string]any
		if status != 200 || json.Unmarshal(body, &m) != nil {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		return m
	}
	cfg := getJSON("/_matrix/client/v1/media/config", aliceToken)
	if cfg["m.storage.size"] != float64(25000) || cfg["m.storage.max_files"] != float64(5) || cfg["org.matrix.msc4034.storage.size"] != float64(25000) {
		t.Fatalf("config: %v", cfg)
	}
	if cfg := getJSON("/_matrix/client/v1/media/config", bobToken); cfg["m.storage.size"] != nil {
		t.Fatalf("an unlimited user's config names a limit: %v", cfg)
	}
	if status, body := upload(aliceToken, 20000); status != 200 {
		t.Fatalf("upload within the quota: %d %s", status, body)
	}
	before := objects(t, s.bucket)
	status, body := upload(aliceToken, 10000)
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil || status != 403 || e["errcode"] != "M_USER_LIMIT_EXCEEDED" ||
		e["info_uri"] != "https://example.org/storage-help" || e["soft_limit"] != nil {
		t.Fatalf("over the quota: %d %s", status, body)
	}
	if got := objects(t, s.bucket); got != before {
		t.Fatalf("a refused upload left objects: %d, had %d", got, before)
	}
	usage := getJSON("/_matrix/media/unstable/org.matrix.msc4034/usage", aliceToken)
	if usage["m.storage.used"] != float64(20000) || usage["m.storage.files"] != float64(1) || usage["org.matrix.msc4034.storage.used"] != float64(20000) {
		t.Fatalf("usage: %v", usage)
	}
	if status, body := upload(bobToken, 30000); status != 200 {
		t.Fatalf("an override without limits: %d %s", status, body)
	}
}
