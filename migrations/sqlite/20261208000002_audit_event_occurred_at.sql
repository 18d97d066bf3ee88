-- The audit log's date range (docs/portal.md, "Audit log") is served by an index on the time of
-- each event.
CREATE INDEX audit_event_occurred_at_idx ON audit_event (occurred_at);
