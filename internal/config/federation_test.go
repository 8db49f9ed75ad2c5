package config

import (
	"strings"
	"testing"
	"time"
)

func TestFederationValidate(t *testing.T) {
	one := []ServerName{{Name: "a.example"}}
	two := []ServerName{{Name: "a.example"}, {Name: "b.example"}}
	for name, tc := range map[string]struct {
		f       Federation
		servers []ServerName
		want    string // "" = valid
	}{
		"disabled needs nothing":  {Federation{}, two, ""},
		"minimal":                 {Federation{Enabled: true, SigningKeyFile: "k"}, one, ""},
		"no key file":             {Federation{Enabled: true}, one, "signing_key_file"},
		"several names, no pick":  {Federation{Enabled: true, SigningKeyFile: "k"}, two, "server_name"},
		"several names, picked":   {Federation{Enabled: true, SigningKeyFile: "k", ServerName: "b.example"}, two, ""},
		"pick not served":         {Federation{Enabled: true, SigningKeyFile: "k", ServerName: "c.example"}, two, "server_name"},
		"remote cap over uploads": {Federation{Enabled: true, SigningKeyFile: "k", MaxRemoteSize: 11}, one, "max_remote_size"},
		"wildcard everything":     {Federation{Enabled: true, SigningKeyFile: "k", AllowedPeers: []string{"*"}}, one, "allowed_peers"},
		"negative timeout":        {Federation{Enabled: true, SigningKeyFile: "k", FetchTimeout: -1}, one, "fetch_timeout"},
		"negative quota":          {Federation{Enabled: true, SigningKeyFile: "k", RemoteQuota: -1}, one, "remote_quota"},
		"negative retention":      {Federation{Enabled: true, SigningKeyFile: "k", RemoteRetention: -1}, one, "remote_retention"},
		"quota and retention":     {Federation{Enabled: true, SigningKeyFile: "k", RemoteQuota: 5, RemoteRetention: Duration(time.Hour)}, one, ""},
	} {
		errs := tc.f.validate(tc.servers, 10)
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: %v", name, errs)
		case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want)):
			t.Errorf("%s: %v, want an error about %s", name, errs, tc.want)
		}
	}
	f := Federation{}
	if f.Timeout() != defaultFetchTimeout || f.MaxSize(10) != 10 || f.SignAs(one) != "a.example" || f.SignAs(two) != "" {
		t.Errorf("defaults: %v %d %q %q", f.Timeout(), f.MaxSize(10), f.SignAs(one), f.SignAs(two))
	}
}
