-- Event notifications to the Data Holder's HTTPS webhooks (docs/webhooks.md). Times are Unix
-- seconds.

-- The webhooks this deployment notifies, as configured ([[webhooks.endpoints]]): written by
-- each server instance at start-up, so that a registration change queues one event per webhook
-- with one INSERT ... SELECT in its own transaction (none when there is no webhook).
CREATE TABLE webhook (
    name        TEXT PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Events to deliver, one row per event and webhook, written in the transaction of the
-- registration change they report (the same outbox pattern as provisioning_outbox: the
-- registration's own write comes first, so on PostgreSQL its row lock orders two changes of
-- one registration and the later event gets the higher id). Delivered at least once, in
-- event_id order per webhook and registration, by one deliverer at a time (the lease
-- 'webhooks'), and deleted once the webhook accepted it. After the last attempt an event is
-- kept as a dead letter (`dead_at`) until an operator sends it again from the portal.
-- `payload` is what the change said when it was made (JSON).
CREATE TABLE webhook_outbox (
    event_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook          TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    event            TEXT NOT NULL,
    payload          TEXT NOT NULL,
    occurred_at      INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    dead_at          INTEGER
);
CREATE INDEX webhook_outbox_line_idx ON webhook_outbox (webhook, client_id, event_id)
    WHERE dead_at IS NULL;
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at) WHERE dead_at IS NULL;
CREATE INDEX webhook_outbox_dead_idx ON webhook_outbox (dead_at) WHERE dead_at IS NOT NULL;
