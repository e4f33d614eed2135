//! Counters gathered while generating; merged chunk by chunk in order, so the totals in
//! `ground_truth.json` are deterministic.

/// Kinds of deliberately corrupted transaction rows, in the order of `Stats::dirty`.
pub const DIRTY_KINDS: [&str; 5] = [
    "malformed_amount",
    "impossible_date",
    "unknown_code",
    "orphan_account",
    "exact_duplicate",
];

#[derive(Debug, Default, Clone, Copy)]
pub struct GroupStats {
    pub n: u64,
    pub opens: u64,
    pub conversions: u64,
    pub uplift_sum: f64,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub persons: u64,
    pub churned: u64,
    pub churn_probability_sum: f64,
    pub service_issue: u64,
    pub pairs_phone_and_rid: u64,
    pub pairs_phone_only: u64,
    pub txn_rows: u64,
    pub event_rows: u64,
    pub pii_txn_rows: u64,
    pub pii_event_rows: u64,
    pub dirty: [u64; 5],
    /// Per campaign, per group (treatment, control, holdout).
    pub campaigns: [[GroupStats; 3]; 4],
    /// Per experiment arm: [assigned, clicked].
    pub experiment: [[u64; 2]; 3],
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.persons += o.persons;
        self.churned += o.churned;
        self.churn_probability_sum += o.churn_probability_sum;
        self.service_issue += o.service_issue;
        self.pairs_phone_and_rid += o.pairs_phone_and_rid;
        self.pairs_phone_only += o.pairs_phone_only;
        self.txn_rows += o.txn_rows;
        self.event_rows += o.event_rows;
        self.pii_txn_rows += o.pii_txn_rows;
        self.pii_event_rows += o.pii_event_rows;
        for (a, b) in self.dirty.iter_mut().zip(o.dirty) {
            *a += b;
        }
        for (ca, cb) in self.campaigns.iter_mut().zip(&o.campaigns) {
            for (a, b) in ca.iter_mut().zip(cb) {
                a.n += b.n;
                a.opens += b.opens;
                a.conversions += b.conversions;
                a.uplift_sum += b.uplift_sum;
            }
        }
        for (a, b) in self.experiment.iter_mut().zip(o.experiment) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }
}
