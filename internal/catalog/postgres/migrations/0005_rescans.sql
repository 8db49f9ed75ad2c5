-- Rescans after a signature update (issue 15 item 4): clean media by
-- upload time (catalog.Rescans.ListCleanByUpload, keyset pagination in
-- catalog.UploadPosition order) and the rescan's progress, one row shared
-- by every replica.
CREATE INDEX records_clean_uploaded ON records (uploaded_ns, origin, id)
	WHERE state = 'clean' AND uploaded_ns IS NOT NULL;

CREATE TABLE rescan_state (
	name     text PRIMARY KEY,
	revision bigint NOT NULL,
	state    jsonb NOT NULL
);
