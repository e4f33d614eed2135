-- Console sessions and signed audit anchors. Keep in step with ../postgres/0002_auth.sql.

-- A console login. The cookie holds a random session id; only its SHA-256 is stored, so a
-- copy of the database does not let anyone log in. csrf_token is the synchroniser token
-- every state-changing console request must echo.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    username     TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    csrf_token   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (username);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- A signed checkpoint of the audit chain: HMAC-SHA256 (key key_id) over the head entry's
-- seq and hash at time ts. Deleting entries from the end of the chain, or rewriting and
-- re-hashing it, no longer verifies against an earlier anchor.
CREATE TABLE audit_anchors (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        BIGINT NOT NULL,
    head_seq  BIGINT NOT NULL,
    head_hash TEXT   NOT NULL,
    key_id    TEXT   NOT NULL,
    mac       TEXT   NOT NULL
);
