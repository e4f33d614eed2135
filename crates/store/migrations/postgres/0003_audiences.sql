-- Audiences (issue 3): a description and the time of the last count on saved audiences,
-- unique names, and the list of member snapshots written under derived/audiences/<id>/.
ALTER TABLE saved_audiences ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE saved_audiences ADD COLUMN last_counted_at BIGINT;
CREATE UNIQUE INDEX saved_audiences_name ON saved_audiences (name);

CREATE TABLE audience_snapshots (
    audience_id  TEXT   NOT NULL REFERENCES saved_audiences (id) ON DELETE CASCADE,
    taken_at     BIGINT NOT NULL,
    member_count BIGINT NOT NULL,
    path         TEXT   NOT NULL,
    definition   TEXT   NOT NULL,
    PRIMARY KEY (audience_id, taken_at)
);
