//! Why a run or a simulation could not be done, with what to do about it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunError {
    #[error("no campaign has id '{0}'; `zhiying campaign list` or GET /v1/campaigns lists them")]
    UnknownCampaign(String),
    #[error(
        "campaign '{id}' is {status}: only a running campaign is run (approve it, then launch it)"
    )]
    NotRunning { id: String, status: String },
    #[error("campaign '{id}' is {kind}: the batch runner runs batch campaigns only")]
    NotBatch { id: String, kind: String },
    #[error("campaign '{id}': {message}")]
    Invalid { id: String, message: String },
    #[error(
        "the audience index is not available ({0}); build the customer tags first (`zhiying tags build`)"
    )]
    Index(String),
    #[error("campaign '{id}', audience: {message}")]
    Audience { id: String, message: String },
    #[error("campaign '{id}' has no contacts yet: run it first (`zhiying campaign run`)")]
    NotRun { id: String },
    #[error(
        "{table} facts: {rejected} row(s) rejected on ingest ({reasons}); see {quarantine}. Nothing else was written for them."
    )]
    FactsRejected {
        table: String,
        rejected: u64,
        reasons: String,
        quarantine: String,
    },
    #[error(transparent)]
    Store(#[from] zhiying_store::StoreError),
    #[error(transparent)]
    Outbox(#[from] zhiying_delivery::OutboxError),
    #[error(transparent)]
    Engine(#[from] zhiying_engine::EngineError),
    #[error(transparent)]
    Decision(#[from] zhiying_decision::EngineError),
    #[error(transparent)]
    Catalog(#[from] zhiying_decision::CatalogError),
    #[error(transparent)]
    Problem(#[from] zhiying_optimizer::ProblemError),
    #[error(transparent)]
    Optimize(#[from] zhiying_optimizer::OptimizeError),
    #[error(transparent)]
    Experiment(#[from] zhiying_experiment::ExperimentError),
    #[error(transparent)]
    Ingest(#[from] zhiying_ingest::IngestError),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Csv { path: String, source: csv::Error },
    #[error("a background task failed: {0}")]
    Task(String),
}
