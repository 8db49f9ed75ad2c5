-- Per-user storage usage (catalog.Usages): quotas (MSC4335) and usage
-- (MSC4034) read one row, never the user's records.
CREATE TABLE user_usage (
	user_id text PRIMARY KEY,
	bytes   bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
	files   bigint NOT NULL DEFAULT 0 CHECK (files >= 0)
);
CREATE INDEX user_usage_bytes ON user_usage (bytes DESC, user_id);
