-- One registration (its used `jti`, the row, its audit event) in one round trip, for the
-- store's PostgreSQL group commit (crates/dcr-store/src/pg_writer.rs): a batch of registrations
-- runs in one transaction under the audit chain's lock, one call each. A failing registration
-- (a duplicate software product, a replayed `jti`) is undone alone by the block's
-- subtransaction and reported by name; the batch goes on. The audit event's `prev_hash` and
-- `hash` are computed by the caller, which holds the chain head.
--
-- Returns NULL when stored; 'unique:<constraint>' or 'check:<constraint>' on a violation;
-- 'error:<SQLSTATE>:<message>' on any other failure.
CREATE FUNCTION dcr_create_registration(
    p_jti_key TEXT, p_jti_expires_at BIGINT,
    p_client_id TEXT, p_software_id TEXT, p_software_key TEXT, p_org_id TEXT, p_org_name TEXT,
    p_client_name TEXT, p_legal_entity_id TEXT, p_legal_entity_name TEXT, p_jwks_uri TEXT,
    p_scope TEXT, p_status TEXT, p_ssa TEXT, p_metadata TEXT, p_client_id_issued_at BIGINT,
    p_created_at BIGINT, p_updated_at BIGINT,
    p_occurred_at BIGINT, p_actor TEXT, p_action TEXT, p_audit_client_id TEXT,
    p_audit_software_id TEXT, p_reason TEXT, p_before_state TEXT, p_after_state TEXT,
    p_prev_hash TEXT, p_hash TEXT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    v_constraint TEXT;
BEGIN
    IF p_jti_key IS NOT NULL THEN
        INSERT INTO used_jti (jti_key, expires_at) VALUES (p_jti_key, p_jti_expires_at);
    END IF;
    INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, client_name,
        legal_entity_id, legal_entity_name, jwks_uri, scope, status, ssa, metadata,
        client_id_issued_at, created_at, updated_at)
    VALUES (p_client_id, p_software_id, p_software_key, p_org_id, p_org_name, p_client_name,
        p_legal_entity_id, p_legal_entity_name, p_jwks_uri, p_scope, p_status, p_ssa, p_metadata,
        p_client_id_issued_at, p_created_at, p_updated_at);
    INSERT INTO audit_event (occurred_at, actor, action, client_id, software_id, reason,
        before_state, after_state, prev_hash, hash)
    VALUES (p_occurred_at, p_actor, p_action, p_audit_client_id, p_audit_software_id, p_reason,
        p_before_state, p_after_state, p_prev_hash, p_hash);
    RETURN NULL;
EXCEPTION
    WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        RETURN 'unique:' || v_constraint;
    WHEN check_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        RETURN 'check:' || v_constraint;
    WHEN OTHERS THEN
        RETURN 'error:' || SQLSTATE || ':' || SQLERRM;
END;
$$;
