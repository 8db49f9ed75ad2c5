package httpapi

import (
	"net/http"
	"strings"
)

// The officers' page speaks German and English. German is the default:
// the page is for security officers of German-speaking administrations;
// a browser that prefers English (Accept-Language) gets English, and the
// officer can switch at any time (kept in the session). Technical terms
// that appear in logs and the API (state names in the audit log, action
// names) stay as they are in both languages, so that what the page shows
// can be searched for in logs.

// pickLang chooses the language from Accept-Language: "en" when English
// comes before German, "de" otherwise.
func pickLang(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "de"):
			return "de"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "de"
}

// translations returns the page texts of lang (German when unknown).
func translations(lang string) map[string]string {
	if c, ok := catalogs[lang]; ok {
		return c
	}
	return catalogs["de"]
}

// catalogs holds every text of the page; the test checks that both
// languages have the same keys and that every key a template uses exists.
var catalogs = map[string]map[string]string{
	"de": {
		"app": "mediarepo – Quarantäne-Prüfung", "skip": "Zum Inhalt springen", "nav": "Hauptnavigation",
		"nav_list": "Quarantäne", "nav_users": "Nutzer und Speicher", "nav_audit": "Prüfprotokoll",
		"signed_in_as": "Angemeldet als", "role_officer": "Sicherheitsbeauftragte:r", "role_admin": "Administrator:in",
		"logout": "Abmelden", "continue": "Weiter", "yes": "ja", "no": "nein", "any": "alle", "show": "Anzeigen",

		"login_title": "Anmeldung", "login_intro": "Nur für Sicherheitsbeauftragte. Melden Sie sich mit Ihrem Matrix-Konto an.",
		"login_user": "Matrix-Nutzer (z. B. @name:example.org)", "login_password": "Passwort",
		"login_submit": "Anmelden", "login_sso": "Mit Single Sign-On anmelden",
		"login_token": "Zugangstoken (Entwicklung)", "login_token_hint": "Das Entwicklungstoken steht in der Datei",
		"login_failed": "Anmeldung fehlgeschlagen: Nutzername, Passwort oder Token falsch.",
		"login_ok":     "Angemeldet", "session_expired": "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.",

		"chart_title": "Infektionen und Sperrungen je Tag, letzte 30 Tage", "chart_infected": "infiziert", "chart_blocked": "gesperrt",
		"list_title": "Quarantäne und gesperrte Medien", "filters": "Filter", "filter_state": "Status",
		"filter_since": "Geändert ab", "filter_until": "Geändert bis", "filter_uploader": "Hochgeladen von",
		"filter_server": "Servername", "filter_signature": "Signatur", "filter_sha256": "SHA-256",
		"filter_apply": "Filter anwenden", "filter_reset": "Zurücksetzen", "list_empty": "Keine Einträge.",
		"backlog": "Prüfwarteschlange", "backlog_waiting": "warten", "backlog_scanning": "werden geprüft",
		"backlog_list": "Medien in Prüfung anzeigen",
		"rescan":       "Erneute Prüfung nach Signaturaktualisierung", "rescan_since": "Uploads seit", "rescan_of": "von",
		"rescan_done": "geprüft", "rescan_infected": "infiziert und in Quarantäne", "rescan_failed": "nicht lesbar",
		"rescan_finished": "abgeschlossen",
		"next_page":       "Nächste Seite", "col_changed": "Geändert", "col_state": "Status", "col_media": "Medium",
		"col_uploader": "Hochgeladen von", "col_verdict": "Befund", "col_size": "Größe", "col_count": "Anzahl",
		"col_time": "Zeit", "col_actor": "Wer", "col_action": "Aktion", "col_from_to": "Status vorher → nachher",
		"col_reason": "Begründung", "col_target": "Ziel", "col_outcome": "Ergebnis",

		"state_reserved": "reserviert", "state_pending": "wird geprüft", "state_clean": "sauber",
		"state_quarantined": "in Quarantäne", "state_blocked": "gesperrt", "state_deleted": "gelöscht", "state_expired": "abgelaufen",
		"result_clean": "sauber", "result_infected": "infiziert", "result_unscannable": "nicht prüfbar",
		"result_failed": "Prüfung fehlgeschlagen", "result_type_forbidden": "Dateityp verboten", "result_hash_blocked": "Prüfsumme gesperrt",

		"details_title": "Medium", "details_facts": "Angaben", "details_history": "Verlauf", "details_actions": "Entscheidung",
		"f_mxc": "Content-URI", "f_state": "Status", "f_uploader": "Hochgeladen von", "f_remote": "entfernter Server",
		"f_filename": "Dateiname", "f_declared": "Angegebener Typ", "f_sniffed": "Erkannter Typ", "f_size": "Größe",
		"f_sha256": "SHA-256", "f_blob": "Speicherschlüssel", "f_entropy": "Entropie (Bit/Byte)", "f_created": "Angelegt",
		"f_uploaded": "Hochgeladen", "f_revision": "Katalog-Revision", "f_verdict": "Befund", "f_result": "Ergebnis",
		"f_signature": "Signatur", "f_engine": "Scanner", "f_sigversion": "Signaturstand", "f_engines": "Scanner einzeln (Regel: jeder Fund führt zur Quarantäne)", "f_engine_name": "Name", "f_engine_error": "Fehler", "f_scanned": "Geprüft am",
		"f_reason": "Erläuterung", "f_hash": "Prüfsumme (alle Medien mit diesem Inhalt)", "f_blocked": "Beim Hochladen gesperrt",
		"f_quarantined_blob": "Datei im Quarantänebereich", "f_refcount": "Verweise", "f_same": "Weitere Medien mit demselben Inhalt",
		"no_verdict": "Noch kein Befund.",

		"actions_intro": "Jede Aktion braucht eine Begründung und wird mit Ihrem Namen im Prüfprotokoll festgehalten.",
		"reason":        "Begründung (Pflichtfeld)",
		"act_release":   "Freigeben", "act_release_hint": "Das Medium wird wieder ausgeliefert.",
		"lift_block":     "Auch die Sperre der Prüfsumme aufheben (derselbe Inhalt darf wieder hochgeladen werden)",
		"act_quarantine": "In Quarantäne nehmen", "act_rescan": "Erneut prüfen",
		"act_rescan_hint": "Das Medium wird bis zum neuen Befund nicht ausgeliefert.",
		"act_sample":      "Probe herunterladen", "act_sample_hint": "Für die forensische Untersuchung; die Datei kann Schadcode enthalten. Wird protokolliert.",
		"act_delete": "Endgültig löschen", "act_delete_hint": "Die Datei wird vernichtet, ein Grabstein mit den Prüfsummen bleibt, die Prüfsumme wird gesperrt.",
		"confirm_delete": "Ich will dieses Medium endgültig löschen.",
		"act_hash":       "Alle Medien mit diesem Inhalt sperren", "act_hash_hint": "Sperrt die Prüfsumme beim Hochladen und nimmt alle Medien mit diesem Inhalt in Quarantäne.",

		"user_title": "Nutzer und Speicher", "usage": "Belegung", "top_usage": "Größte Speicherbelegung",
		"user_newest":         "Die neuesten %d von %d Medien.",
		"act_user_quarantine": "Alle Medien dieses Nutzers in Quarantäne nehmen",
		"act_erase":           "Alle Medien dieses Nutzers löschen (Datenschutz)",
		"act_erase_hint":      "Löschung nach Art. 17 DSGVO: alle Dateien werden vernichtet, Prüfsummen werden nicht gesperrt.",
		"confirm_erase":       "Ich will alle Medien dieses Nutzers endgültig löschen.",

		"audit_title": "Prüfprotokoll", "audit_intro": "Jede Entscheidung, jede Probe und jede Anmeldung. Einträge können nicht gelöscht werden.",

		"done_release": "Freigegeben.", "done_delete": "Gelöscht.", "done_rescan": "Neue Prüfung angestoßen.",
		"done_quarantine": "In Quarantäne genommen.", "done_unchanged": "Es war bereits so; nichts geändert.",
		"done_user_quarantine": "Medien des Nutzers in Quarantäne genommen", "done_user_erase": "Medien des Nutzers gelöscht",
		"done_hash": "Prüfsumme gesperrt, Medien in Quarantäne genommen",

		"error_back": "Zurück zur", "error_400": "Ungültige Eingabe", "error_401": "Nicht angemeldet",
		"error_403": "Zugriff verweigert", "error_404": "Nicht gefunden", "error_409": "In diesem Zustand nicht möglich",
		"error_500": "Interner Fehler", "error_502": "Homeserver nicht erreichbar", "error_503": "Vorübergehend nicht verfügbar",
	},
	"en": {
		"app": "mediarepo – quarantine review", "skip": "Skip to content", "nav": "Main navigation",
		"nav_list": "Quarantine", "nav_users": "Users and storage", "nav_audit": "Audit log",
		"signed_in_as": "Signed in as", "role_officer": "security officer", "role_admin": "administrator",
		"logout": "Sign out", "continue": "Continue", "yes": "yes", "no": "no", "any": "any", "show": "Show",

		"login_title": "Sign in", "login_intro": "Security officers only. Sign in with your Matrix account.",
		"login_user": "Matrix user (e.g. @name:example.org)", "login_password": "Password",
		"login_submit": "Sign in", "login_sso": "Sign in with single sign-on",
		"login_token": "Access token (development)", "login_token_hint": "The development token is in the file",
		"login_failed": "Sign-in failed: wrong user name, password or token.",
		"login_ok":     "Signed in", "session_expired": "Your session has expired. Please sign in again.",

		"chart_title": "Infections and blocks per day, last 30 days", "chart_infected": "infected", "chart_blocked": "blocked",
		"list_title": "Quarantined and blocked media", "filters": "Filters", "filter_state": "State",
		"filter_since": "Changed from", "filter_until": "Changed until", "filter_uploader": "Uploaded by",
		"filter_server": "Server name", "filter_signature": "Signature", "filter_sha256": "SHA-256",
		"filter_apply": "Apply filters", "filter_reset": "Reset", "list_empty": "Nothing here.",
		"backlog": "Scan queue", "backlog_waiting": "waiting", "backlog_scanning": "being scanned",
		"backlog_list": "show media being scanned",
		"rescan":       "Rescan after a signature update", "rescan_since": "uploads since", "rescan_of": "of",
		"rescan_done": "rescanned", "rescan_infected": "infected and quarantined", "rescan_failed": "unreadable",
		"rescan_finished": "finished",
		"next_page":       "Next page", "col_changed": "Changed", "col_state": "State", "col_media": "Media",
		"col_uploader": "Uploaded by", "col_verdict": "Finding", "col_size": "Size", "col_count": "Count",
		"col_time": "Time", "col_actor": "Who", "col_action": "Action", "col_from_to": "State before → after",
		"col_reason": "Reason", "col_target": "Target", "col_outcome": "Outcome",

		"state_reserved": "reserved", "state_pending": "being scanned", "state_clean": "clean",
		"state_quarantined": "quarantined", "state_blocked": "blocked", "state_deleted": "deleted", "state_expired": "expired",
		"result_clean": "clean", "result_infected": "infected", "result_unscannable": "unscannable",
		"result_failed": "scan failed", "result_type_forbidden": "type forbidden", "result_hash_blocked": "hash blocked",

		"details_title": "Media", "details_facts": "Facts", "details_history": "History", "details_actions": "Decision",
		"f_mxc": "Content URI", "f_state": "State", "f_uploader": "Uploaded by", "f_remote": "remote server",
		"f_filename": "File name", "f_declared": "Declared type", "f_sniffed": "Detected type", "f_size": "Size",
		"f_sha256": "SHA-256", "f_blob": "Storage key", "f_entropy": "Entropy (bits/byte)", "f_created": "Created",
		"f_uploaded": "Uploaded", "f_revision": "Catalog revision", "f_verdict": "Finding", "f_result": "Result",
		"f_signature": "Signature", "f_engine": "Scanner", "f_sigversion": "Signature version", "f_engines": "Each engine (policy: any infected quarantines)", "f_engine_name": "Name", "f_engine_error": "Error", "f_scanned": "Scanned at",
		"f_reason": "Explanation", "f_hash": "Hash (all media with this content)", "f_blocked": "Blocked at upload",
		"f_quarantined_blob": "File in the quarantine area", "f_refcount": "References", "f_same": "Other media with the same content",
		"no_verdict": "No finding yet.",

		"actions_intro": "Every action needs a reason and is recorded with your name in the audit log.",
		"reason":        "Reason (required)",
		"act_release":   "Release", "act_release_hint": "The media will be served again.",
		"lift_block":     "Also lift the hash block (the same content may be uploaded again)",
		"act_quarantine": "Quarantine", "act_rescan": "Scan again",
		"act_rescan_hint": "The media is not served until the new finding.",
		"act_sample":      "Download sample", "act_sample_hint": "For forensic analysis; the file may contain malware. Recorded in the audit log.",
		"act_delete": "Delete for good", "act_delete_hint": "The file is destroyed, a tombstone with the hashes stays, the hash is blocked.",
		"confirm_delete": "I want to delete this media for good.",
		"act_hash":       "Block all media with this content", "act_hash_hint": "Blocks the hash at upload and quarantines all media with this content.",

		"user_title": "Users and storage", "usage": "Usage", "top_usage": "Largest storage use",
		"user_newest":         "The newest %d of %d media.",
		"act_user_quarantine": "Quarantine all media of this user",
		"act_erase":           "Delete all media of this user (data protection)",
		"act_erase_hint":      "Erasure under Art. 17 GDPR: every file is destroyed, hashes are not blocked.",
		"confirm_erase":       "I want to delete all media of this user for good.",

		"audit_title": "Audit log", "audit_intro": "Every decision, every sample and every sign-in. Entries cannot be deleted.",

		"done_release": "Released.", "done_delete": "Deleted.", "done_rescan": "Scan requested.",
		"done_quarantine": "Quarantined.", "done_unchanged": "It already was; nothing changed.",
		"done_user_quarantine": "The user's media were quarantined", "done_user_erase": "The user's media were deleted",
		"done_hash": "Hash blocked, media quarantined",

		"error_back": "Back to", "error_400": "Invalid request", "error_401": "Not signed in",
		"error_403": "Access denied", "error_404": "Not found", "error_409": "Not possible in this state",
		"error_500": "Internal error", "error_502": "Homeserver unreachable", "error_503": "Temporarily unavailable",
	},
}
