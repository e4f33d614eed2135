-- Data-subject rights (issue 7). An erased customer leaves only this: a keyed hash of the
-- id (never the id itself), when and why, so a re-import or a contact list can be checked
-- against it. The erasure's audit entry is kept in audit_log as the law requires.
CREATE TABLE erased_customers (
    id_hash   TEXT PRIMARY KEY,
    erased_at BIGINT NOT NULL,
    reason    TEXT   NOT NULL
);

-- Retention purges old rows by time: these indexes keep the range deletes cheap.
CREATE INDEX contacts_by_ts ON contacts (ts);
CREATE INDEX decisions_by_ts ON decisions (ts);
CREATE INDEX responses_by_ts ON responses (ts);
