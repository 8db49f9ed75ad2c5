-- The first schema of the PostgreSQL catalog: media records with their
-- lookups, per-hash blob records, leases, counters and per-key verdicts.
-- Revisions of records and blob records come from one sequence, so a
-- record deleted and created again never repeats a revision.
CREATE SEQUENCE catalog_revision;

CREATE TABLE records (
	origin     text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	revision   bigint NOT NULL,
	state      text NOT NULL,
	sha256     text,
	uploader   text,
	-- changed_ns is catalog.ChangedAt in Unix nanoseconds (timestamptz
	-- keeps only microseconds; the listing's cursor needs the exact time).
	changed_ns bigint NOT NULL,
	record     jsonb NOT NULL,
	PRIMARY KEY (origin, id)
);
CREATE INDEX records_sha256 ON records (sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX records_uploader ON records (uploader, changed_ns DESC) WHERE uploader IS NOT NULL;
-- The officers' listing (catalog.ListQuery order) and the states the
-- reconciler works through.
CREATE INDEX records_officers ON records (changed_ns DESC, origin DESC, id DESC)
	WHERE state IN ('quarantined', 'blocked');
CREATE INDEX records_waiting ON records (state, changed_ns)
	WHERE state IN ('reserved', 'pending');

CREATE TABLE blobs (
	sha256    text PRIMARY KEY,
	revision  bigint NOT NULL,
	ref_count bigint NOT NULL,
	blob      jsonb NOT NULL
);

CREATE TABLE leases (
	name       text PRIMARY KEY,
	holder     text NOT NULL,
	revision   bigint NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE TABLE counters (
	name  text PRIMARY KEY,
	value bigint NOT NULL CHECK (value >= 0)
);
INSERT INTO counters (name, value) VALUES ('remote_bytes', 0);

CREATE TABLE key_verdicts (
	origin     text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	key_digest bytea NOT NULL,
	verdict    jsonb NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (origin, id, key_digest)
);
CREATE INDEX key_verdicts_expiry ON key_verdicts (expires_at);

-- Waiting downloads: every change of a record notifies the channel at
-- commit (and only if it commits), whoever wrote it.
CREATE FUNCTION records_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('mediarepo_records', OLD.origin || '/' || OLD.id);
	ELSE
		PERFORM pg_notify('mediarepo_records', NEW.origin || '/' || NEW.id);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER records_notify AFTER INSERT OR UPDATE OR DELETE ON records
	FOR EACH ROW EXECUTE FUNCTION records_notify();
