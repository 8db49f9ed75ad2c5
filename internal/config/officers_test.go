package config

import (
	"strings"
	"testing"
	"time"
)

func TestOfficersValidateAndResolve(t *testing.T) {
	o := Officers{Users: []string{"@a:example.org", "alice"}, Admins: []string{"@b:"}, LoginMethods: []string{"password", "kerberos"},
		Homeserver: "ftp://x", SessionTTL: Duration(time.Hour), IdleTimeout: Duration(2 * time.Hour)}
	errs := o.validate()
	joined := ""
	for _, e := range errs {
		joined += e.Error() + "\n"
	}
	for _, want := range []string{"officers.users[1]", "officers.admins[0]", "kerberos", "officers.homeserver", "idle_timeout"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no complaint about %s in:\n%s", want, joined)
		}
	}
	if len(errs) != 5 {
		t.Errorf("%d problems, want 5:\n%s", len(errs), joined)
	}

	c := Default()
	r := c.Officers.Resolved(c)
	if *r.CookieSecure || len(r.LoginMethods) != 1 || r.LoginMethods[0] != "token" || r.SessionTTL.D() != 8*time.Hour || r.IdleTimeout.D() != 30*time.Minute {
		t.Fatalf("embedded defaults: %+v", r)
	}
	c.Embedded, c.Auth.Mode = false, "whoami"
	c.Servers[0].Homeserver = "https://matrix.example.org"
	r = c.Officers.Resolved(c)
	if !*r.CookieSecure || strings.Join(r.LoginMethods, ",") != "password,sso" || r.Homeserver != "https://matrix.example.org" {
		t.Fatalf("production defaults: %+v", r)
	}
	if errs := r.validate(); len(errs) != 0 {
		t.Fatalf("resolved defaults invalid: %v", errs)
	}
}
