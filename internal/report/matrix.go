package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Matrix posts each report as an m.notice into a room, with a bot's
// access token through the homeserver's client-server API, in German and
// English, so officers see alerts where they already work. The report ID
// is the transaction ID: the homeserver stores a retried send once.
type Matrix struct {
	// Homeserver is the client-server API base URL, https://matrix.example.org.
	Homeserver string
	RoomID     string
	Token      string
	Client     *http.Client
}

// Name implements Sink.
func (m *Matrix) Name() string { return "matrix" }

// Send implements Sink.
func (m *Matrix) Send(ctx context.Context, r Report) error {
	en, de := r.Text()
	body, err := json.Marshal(map[string]any{
		"msgtype":              "m.notice",
		"body":                 de + "\n\n" + en,
		"format":               "org.matrix.custom.html",
		"formatted_body":       "<p>" + htmlEscape(de) + "</p><p>" + htmlEscape(en) + "</p>",
		"org.mediarepo.report": r,
	})
	if err != nil {
		return err
	}
	u := strings.TrimSuffix(m.Homeserver, "/") + "/_matrix/client/v3/rooms/" + url.PathEscape(m.RoomID) +
		"/send/m.room.message/" + url.PathEscape("mediarepo-"+r.ID)
	err = send(ctx, m.Client, http.MethodPut, u, body, http.Header{"Authorization": {"Bearer " + m.Token}},
		func(code int) bool { return code == http.StatusOK })
	if err != nil {
		return fmt.Errorf("matrix: send to %s: %w", m.RoomID, err)
	}
	return nil
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
