-- Maintenance that never reads everything (issue 13 item 3): upload
-- intents, atomic reservations counted from the uploader's reservations
-- only, and the remote-media retention by fetch time. The new columns are
-- filled from the stored records.
ALTER TABLE records
	ADD COLUMN remote      boolean NOT NULL DEFAULT false,
	ADD COLUMN uploaded_ns bigint,
	ADD COLUMN expires_ns  bigint;
UPDATE records SET
	remote = coalesce((record->>'remote')::boolean, false),
	uploaded_ns = CASE WHEN record ? 'uploaded_at'
		THEN (extract(epoch FROM (record->>'uploaded_at')::timestamptz) * 1e9)::bigint END,
	expires_ns = CASE WHEN record ? 'expires_at'
		THEN (extract(epoch FROM (record->>'expires_at')::timestamptz) * 1e9)::bigint END;

CREATE INDEX records_reservations ON records (uploader, expires_ns) WHERE state = 'reserved';
CREATE INDEX records_remote_clean ON records (uploaded_ns) WHERE remote AND state = 'clean';

CREATE TABLE intents (
	blob_key   text PRIMARY KEY,
	origin     text NOT NULL,
	id         text NOT NULL,
	sha256     text,
	created_ns bigint NOT NULL
);
CREATE INDEX intents_created ON intents (created_ns);
