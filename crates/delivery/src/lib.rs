//! Delivery: channel adapters behind a transactional outbox with idempotency keys, retries with back-off and a dead-letter queue.
