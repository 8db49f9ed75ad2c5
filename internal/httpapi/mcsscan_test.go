package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// TestMCSScanAnswersFromTheRecordState: the content scanner's scan answer
// follows the record's state, not the verdict it kept: media an officer
// released is being served, so it is "clean" even though its verdict says
// infected, and a clean record without any verdict does not crash the
// handler (issue 14, item 4).
func TestMCSScanAnswersFromTheRecordState(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{})
	tok := f.hs.Token("alice")
	infected := &media.Verdict{Result: media.ResultInfected, Signature: "Eicar-Signature", ScannedAt: time.Now()}
	noVerdict := f.record(t, "example.org", time.Now(), media.StateClean)
	released := f.record(t, "example.org", time.Now(), media.StatePending)
	released.State, released.Verdict = media.StateClean, infected
	quarantined := f.record(t, "example.org", time.Now(), media.StatePending)
	quarantined.State, quarantined.Verdict = media.StateQuarantined, infected
	for _, rec := range []media.Record{released, quarantined} {
		_, rev, err := f.cat.Get(context.Background(), rec.Origin, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.cat.Update(context.Background(), rec, rev); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		rec   media.Record
		clean bool
	}{
		{"clean without a verdict", noVerdict, true},
		{"released by an officer (verdict infected)", released, true},
		{"quarantined", quarantined, false},
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+scannerPrefix+"/scan/example.org/"+c.rec.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got scanResult
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || got.Clean != c.clean {
			t.Errorf("%s: %d %+v %v, want clean=%v", c.name, resp.StatusCode, got, err, c.clean)
		}
		if c.clean && got.Info != "File is clean" {
			t.Errorf("%s: info %q for media that is served", c.name, got.Info)
		}
	}
}
