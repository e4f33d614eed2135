-- Zhiying operational store, SQLite flavour. Keep in step with ../postgres/0001_init.sql:
-- the two files differ only where the dialects do (auto-increment keys).
-- Conventions: times are UTC microseconds since the Unix epoch (BIGINT), money is BIGINT 分,
-- JSON documents are TEXT, booleans are BIGINT 0/1 so one code path reads both backends.

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    display_name  TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL
);

INSERT INTO roles (name, description) VALUES
    ('admin', 'Administers users, settings and integrations'),
    ('marketer', 'Designs offers, audiences and campaigns'),
    ('analyst', 'Explores data, models and results'),
    ('compliance_officer', 'Approves campaigns, manages consent and audits'),
    ('service_agent', 'Serves customers in branch and call centre'),
    ('channel_system', 'A delivery channel calling the decision API');

CREATE TABLE user_roles (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    role     TEXT NOT NULL REFERENCES roles (name),
    PRIMARY KEY (username, role)
);

CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    username     TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    scopes       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (username);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    ts        BIGINT NOT NULL,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    target    TEXT   NOT NULL,
    detail    TEXT   NOT NULL,
    prev_hash TEXT   NOT NULL,
    hash      TEXT   NOT NULL UNIQUE
);

CREATE TABLE consents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT   NOT NULL,
    purpose     TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    granted     BIGINT NOT NULL CHECK (granted IN (0, 1)),
    ts          BIGINT NOT NULL,
    source      TEXT   NOT NULL,
    evidence    TEXT,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX consents_lookup ON consents (customer_id, purpose, channel, ts);

CREATE TABLE do_not_contact (
    customer_id TEXT PRIMARY KEY,
    reason      TEXT   NOT NULL,
    added_by    TEXT   NOT NULL,
    added_at    BIGINT NOT NULL
);

CREATE TABLE offers (
    id          TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    definition  TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    created_by  TEXT   NOT NULL,
    approved_by TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    approved_at BIGINT,
    PRIMARY KEY (id, version)
);

CREATE TABLE campaigns (
    id          TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    definition  TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    created_by  TEXT   NOT NULL,
    approved_by TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    approved_at BIGINT,
    PRIMARY KEY (id, version)
);

CREATE TABLE approvals (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_kind    TEXT   NOT NULL,
    subject_id      TEXT   NOT NULL,
    subject_version BIGINT NOT NULL,
    requested_by    TEXT   NOT NULL,
    requested_at    BIGINT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    decision        TEXT,
    comment         TEXT
);
CREATE INDEX approvals_by_subject ON approvals (subject_kind, subject_id, subject_version);

CREATE TABLE treatments (
    id               TEXT PRIMARY KEY,
    campaign_id      TEXT   NOT NULL,
    campaign_version BIGINT NOT NULL,
    offer_id         TEXT,
    offer_version    BIGINT,
    channel          TEXT   NOT NULL,
    definition       TEXT   NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX treatments_by_campaign ON treatments (campaign_id, campaign_version);

CREATE TABLE contact_history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id      TEXT   NOT NULL,
    campaign_id      TEXT,
    campaign_version BIGINT,
    treatment_id     TEXT,
    offer_id         TEXT,
    channel          TEXT   NOT NULL,
    contacted_at     BIGINT NOT NULL,
    status           TEXT   NOT NULL,
    decision_id      TEXT,
    detail           TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX contact_history_by_customer ON contact_history (customer_id, contacted_at);
CREATE INDEX contact_history_by_campaign ON contact_history (campaign_id, contacted_at);

CREATE TABLE decisions (
    decision_id TEXT PRIMARY KEY,
    ts          BIGINT NOT NULL,
    customer_id TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    detail      TEXT   NOT NULL
);
CREATE INDEX decisions_by_customer ON decisions (customer_id, ts);

CREATE TABLE models (
    name               TEXT   NOT NULL,
    version            BIGINT NOT NULL,
    training_data_hash TEXT   NOT NULL,
    metrics            TEXT   NOT NULL,
    stage              TEXT   NOT NULL CHECK (stage IN ('candidate', 'challenger', 'champion', 'retired')),
    artifact_path      TEXT,
    created_by         TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE saved_audiences (
    id         TEXT PRIMARY KEY,
    name       TEXT   NOT NULL,
    definition TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_count BIGINT
);

CREATE TABLE ingest_runs (
    batch_id           TEXT PRIMARY KEY,
    table_name         TEXT   NOT NULL,
    source_file        TEXT   NOT NULL,
    file_hash          TEXT   NOT NULL,
    started_at         BIGINT NOT NULL,
    finished_at        BIGINT NOT NULL,
    accepted           BIGINT NOT NULL,
    rejected           BIGINT NOT NULL,
    duplicates_skipped BIGINT NOT NULL,
    quarantine_path    TEXT
);
CREATE INDEX ingest_runs_by_table ON ingest_runs (table_name, started_at);
