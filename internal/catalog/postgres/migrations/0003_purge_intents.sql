-- Purge marks (catalog.Intent.Purge): a pending deletion of a blob or of a
-- hash's thumbnail set, kept until it succeeded (issue 14 items 23, 24).
ALTER TABLE intents ADD COLUMN purge boolean NOT NULL DEFAULT false;
