-- Triggered campaigns (issue 5, item 6). A rule says which event fires a decision and a
-- delivery on which channel; its body is the rule as JSON, `enabled` mirrors it for cheap
-- filtering, `version` counts edits (optimistic concurrency like offers).
CREATE TABLE trigger_rules (
    rule_id    TEXT PRIMARY KEY,
    body       TEXT   NOT NULL,
    enabled    BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL
);

-- One row per firing, keyed by the idempotency key (rule + customer + event or day), so
-- the same event can never fire a rule twice. `outcome` is enqueued, no_offer or error;
-- `policy` and `reason` say which engagement policy removed the last offers when none was
-- sent; `outbox_id` points at the delivery_outbox row; `latency_us` is event -> outbox.
CREATE TABLE trigger_firings (
    firing_id   TEXT PRIMARY KEY,
    rule_id     TEXT   NOT NULL,
    customer_id TEXT   NOT NULL,
    event_ref   TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    policy      TEXT,
    reason      TEXT,
    decision_id TEXT,
    offer_id    TEXT,
    outbox_id   BIGINT,
    latency_us  BIGINT NOT NULL,
    fired_at    BIGINT NOT NULL,
    detail      TEXT   NOT NULL
);
CREATE INDEX trigger_firings_by_time ON trigger_firings (fired_at);
CREATE INDEX trigger_firings_by_rule ON trigger_firings (rule_id, fired_at);
CREATE INDEX trigger_firings_by_customer ON trigger_firings (customer_id);
