-- Operational state for decisioning, campaigns, measurement and model governance, SQLite
-- flavour. Keep in step with ../postgres/0004_operations.sql: the two files differ only
-- where the dialects do (auto-increment keys).
--
-- 0001 sketched offers, campaigns, approvals, treatments, contact_history, decisions and
-- models. Nothing ever wrote to them; the shapes below replace them.
DROP TABLE IF EXISTS approvals;
DROP TABLE IF EXISTS treatments;
DROP TABLE IF EXISTS contact_history;
DROP TABLE IF EXISTS decisions;
DROP TABLE IF EXISTS models;
DROP TABLE IF EXISTS campaigns;
DROP TABLE IF EXISTS offers;

-- Offer catalogue: one row per offer pointing at its current version; every version kept.
CREATE TABLE offers (
    offer_id        TEXT PRIMARY KEY,
    current_version BIGINT NOT NULL CHECK (current_version >= 1),
    status          TEXT   NOT NULL CHECK (status IN ('active', 'retired')),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE offer_versions (
    offer_id   TEXT   NOT NULL REFERENCES offers (offer_id) ON DELETE CASCADE,
    version    BIGINT NOT NULL CHECK (version >= 1),
    body       TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    note       TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (offer_id, version)
);

-- Campaigns under maker-checker; every status change is a row in campaign_transitions.
CREATE TABLE campaigns (
    campaign_id   TEXT PRIMARY KEY,
    name          TEXT   NOT NULL,
    kind          TEXT   NOT NULL CHECK (kind IN ('batch', 'triggered')),
    audience      TEXT   NOT NULL,
    offers        TEXT   NOT NULL,
    channels      TEXT   NOT NULL,
    schedule      TEXT   NOT NULL,
    budget_fen    BIGINT NOT NULL CHECK (budget_fen >= 0),
    holdout_share DOUBLE PRECISION NOT NULL CHECK (holdout_share >= 0 AND holdout_share < 1),
    status        TEXT   NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'rejected', 'running', 'paused', 'completed', 'cancelled')),
    spec          TEXT   NOT NULL,
    created_by    TEXT   NOT NULL,
    submitted_by  TEXT,
    approved_by   TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX campaigns_by_status ON campaigns (status, updated_at);

CREATE TABLE campaign_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT   NOT NULL REFERENCES campaigns (campaign_id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    ts          BIGINT NOT NULL,
    note        TEXT   NOT NULL,
    snapshot    TEXT   NOT NULL
);
CREATE INDEX campaign_transitions_by_campaign ON campaign_transitions (campaign_id, id);

-- Contact history. No foreign keys on the high-volume tables: history outlives what it
-- points at, and bulk inserts stay cheap.
CREATE TABLE contacts (
    contact_id    TEXT PRIMARY KEY,
    campaign_id   TEXT,
    decision_id   TEXT,
    customer_id   TEXT   NOT NULL,
    offer_id      TEXT   NOT NULL,
    channel       TEXT   NOT NULL,
    ts            BIGINT NOT NULL,
    contact_group TEXT   NOT NULL CHECK (contact_group IN ('treatment', 'control', 'holdout')),
    status        TEXT   NOT NULL CHECK (status IN ('planned', 'sent', 'delivered', 'failed', 'suppressed'))
);
-- Rolling-window frequency caps: contacts of one customer since a time, per channel.
CREATE INDEX contacts_cap_window ON contacts (customer_id, ts, channel);
CREATE INDEX contacts_by_campaign ON contacts (campaign_id, contact_group);
CREATE INDEX contacts_by_decision ON contacts (decision_id);

CREATE TABLE decisions (
    decision_id   TEXT PRIMARY KEY,
    customer_id   TEXT   NOT NULL,
    channel       TEXT   NOT NULL,
    ts            BIGINT NOT NULL,
    is_control    BIGINT NOT NULL CHECK (is_control IN (0, 1)),
    ranked_offers TEXT   NOT NULL,
    explanation   TEXT   NOT NULL
);
CREATE INDEX decisions_by_customer ON decisions (customer_id, ts);

CREATE TABLE responses (
    response_id TEXT PRIMARY KEY,
    decision_id TEXT,
    contact_id  TEXT,
    customer_id TEXT   NOT NULL,
    offer_id    TEXT   NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('impression', 'click', 'accept', 'reject', 'convert')),
    ts          BIGINT NOT NULL,
    revenue_fen BIGINT NOT NULL DEFAULT 0,
    CHECK (decision_id IS NOT NULL OR contact_id IS NOT NULL)
);
CREATE INDEX responses_by_contact ON responses (contact_id);
CREATE INDEX responses_by_decision ON responses (decision_id);
CREATE INDEX responses_by_customer ON responses (customer_id, ts);

-- Experiments: buckets are 0..10000; experiments in one layer must not overlap.
CREATE TABLE experiments (
    experiment_id TEXT PRIMARY KEY,
    name          TEXT   NOT NULL,
    salt          TEXT   NOT NULL,
    layer         TEXT   NOT NULL,
    bucket_start  BIGINT NOT NULL,
    bucket_end    BIGINT NOT NULL,
    arms          TEXT   NOT NULL,
    control_arm   TEXT   NOT NULL,
    status        TEXT   NOT NULL CHECK (status IN ('draft', 'running', 'stopped')),
    created_at    BIGINT NOT NULL,
    CHECK (bucket_start >= 0 AND bucket_start < bucket_end AND bucket_end <= 10000)
);
CREATE INDEX experiments_by_layer ON experiments (layer);

-- First assignment wins: the primary key makes a replayed assignment a no-op.
CREATE TABLE assignments (
    experiment_id TEXT   NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
    customer_id   TEXT   NOT NULL,
    arm           TEXT   NOT NULL,
    assigned_at   BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, customer_id)
);

-- Model registry under maker-checker; at most one champion per model name.
CREATE TABLE models (
    name               TEXT   NOT NULL,
    version            BIGINT NOT NULL CHECK (version >= 1),
    algorithm          TEXT   NOT NULL,
    target             TEXT   NOT NULL,
    features           TEXT   NOT NULL,
    metrics            TEXT   NOT NULL,
    artifact_path      TEXT   NOT NULL,
    sha256             TEXT   NOT NULL,
    training_data_hash TEXT   NOT NULL,
    status             TEXT   NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'champion', 'retired')),
    created_by         TEXT   NOT NULL,
    submitted_by       TEXT,
    approved_by        TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX models_one_champion ON models (name) WHERE status = 'champion';

CREATE TABLE model_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    from_status TEXT,
    to_status   TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    ts          BIGINT NOT NULL,
    note        TEXT   NOT NULL,
    FOREIGN KEY (name, version) REFERENCES models (name, version) ON DELETE CASCADE
);
CREATE INDEX model_transitions_by_model ON model_transitions (name, version, id);
