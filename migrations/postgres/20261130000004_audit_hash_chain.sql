-- Tamper-evident audit trail: every audit event carries the SHA-256 (lowercase hex) of its
-- canonical content together with the previous event's hash, so that editing, deleting or
-- reordering an event breaks the chain at that point (`dcr-server audit verify`).
--
-- The hash is computed in Rust (crates/dcr-store/src/audit_chain.rs) inside the inserting
-- transaction, after the chain head has been read under a lock. Existing rows are left NULL
-- here and hashed once, in id order, by the store at its first start after this migration
-- (only while no row has a hash yet, so a later NULL is reported, never silently re-hashed).
ALTER TABLE audit_event ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_event ADD COLUMN hash TEXT;
