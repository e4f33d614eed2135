"""Python peer of the delivery benchmark: the same outbox table and file-per-channel
adapter with stdlib sqlite3 (WAL, synchronous=NORMAL), one thread, claim in batches with
UPDATE ... RETURNING, append + fsync per batch, then mark sent. No retries or leases
beyond the claim itself, so it is a lower bound on the work the Rust dispatcher does."""
import json, os, sqlite3, sys, tempfile, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
channels = ["app_push", "sms", "email", "wechat", "call_centre", "branch"]
d = tempfile.mkdtemp(prefix="pyref-delivery-")
db = sqlite3.connect(os.path.join(d, "outbox.db"), isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("""CREATE TABLE delivery_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
  idempotency_key TEXT NOT NULL UNIQUE, channel TEXT NOT NULL, customer_id TEXT NOT NULL,
  payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL, lease_until INTEGER, created_at INTEGER NOT NULL, sent_at INTEGER)""")
db.execute("CREATE INDEX due ON delivery_outbox (channel, status, next_attempt_at, id)")
t0 = time.perf_counter()
for start in range(0, n, 1000):
    db.execute("BEGIN IMMEDIATE")
    for i in range(start, min(n, start + 1000)):
        payload = json.dumps({"template": "fund-intro-v2", "text": f"尊敬的客户，您的定期存款即将到期 {i}", "fields": {"n": i}}, ensure_ascii=False)
        db.execute("INSERT INTO delivery_outbox (idempotency_key, channel, customer_id, payload, status, next_attempt_at, created_at) "
                   "VALUES (?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (idempotency_key) DO NOTHING",
                   (f"bench:C{i:08}:offer-{i % 11}:0", channels[i % 6], f"C{i:08}", payload, time.time_ns() // 1000))
    db.execute("COMMIT")
enqueue = time.perf_counter() - t0
files = {c: open(os.path.join(d, c + ".jsonl"), "ab") for c in channels}
t1 = time.perf_counter(); done = 0
while done < n:
    progressed = False
    for c in channels:
        now = time.time_ns() // 1000
        rows = db.execute("UPDATE delivery_outbox SET status='sending', attempts=attempts+1, lease_until=? "
                          "WHERE id IN (SELECT id FROM delivery_outbox WHERE channel=? AND status='pending' "
                          "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?) "
                          "RETURNING id, idempotency_key, customer_id, payload", (now + 120_000_000, c, now, batch)).fetchall()
        if not rows: continue
        progressed = True
        f = files[c]
        f.write(b"".join(json.dumps({"idempotency_key": k, "channel": c, "customer_id": cu, "payload": json.loads(p)}, ensure_ascii=False).encode() + b"\n" for _, k, cu, p in rows))
        f.flush(); os.fsync(f.fileno())
        db.execute("BEGIN IMMEDIATE")
        db.executemany("UPDATE delivery_outbox SET status='sent', sent_at=? WHERE id=?", [(now, r[0]) for r in rows])
        db.execute("COMMIT")
        done += len(rows)
    if not progressed: break
deliver = time.perf_counter() - t1
print(f"python peer: enqueue {n/enqueue:8.0f} msg/s, dispatch {n/deliver:8.0f} msg/s, end to end {n/(enqueue+deliver):8.0f} msg/s ({done} delivered)")
