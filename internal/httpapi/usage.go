package httpapi

import "net/http"

func (a *API) usageRoutes() []route {
	return []route{
		{"msc4034_usage", "/_matrix/media/unstable/org.matrix.msc4034/usage", []string{"GET"}, true, a.usage},
	}
}

// usage answers the user's storage usage (MSC4034), under the stable
// names the MSC proposes and its unstable ones (what matrix-media-repo
// and Element Android read).
func (a *API) usage(w http.ResponseWriter, r *http.Request) error {
	used, _, err := a.media.Usage(r.Context(), userID(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int64{
		"m.storage.used": used.Bytes, "m.storage.files": used.Files,
		"org.matrix.msc4034.storage.used": used.Bytes, "org.matrix.msc4034.storage.files": used.Files,
	})
	return nil
}
