-- A whole batch of registrations in one round trip, for the store's PostgreSQL group commit
-- (crates/dcr-store/src/pg_writer.rs). It replaces the one-registration function of migration
-- 20261201000002: measured, a fifth of PostgreSQL's CPU per registration went to the round trip
-- of each call (socket writes and wake-ups), and the writer waited on it while holding the audit
-- chain's lock.
--
-- Element i of every array is registration i: its used `jti` (NULL key for none), the row, and
-- its audit event, whose `prev_hash` and `hash` the caller computed, chaining each event onto
-- the one before it in the batch. The registrations are stored in order, each in its own
-- subtransaction. At the first one that fails (a duplicate software product, a replayed `jti`)
-- the function undoes that one alone and stops, so that the caller can chain the rest again
-- onto the last stored event: `failed_at` is its 1-based index, `failure` says why
-- ('unique:<constraint>', 'check:<constraint>' or 'error:<SQLSTATE>:<message>'). Both are NULL
-- when every registration was stored.
DROP FUNCTION dcr_create_registration(TEXT, BIGINT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT,
    TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, BIGINT, BIGINT, BIGINT, BIGINT, TEXT, TEXT, TEXT, TEXT,
    TEXT, TEXT, TEXT, TEXT, TEXT);

CREATE FUNCTION dcr_create_registrations(
    p_jti_key TEXT[], p_jti_expires_at BIGINT[],
    p_client_id TEXT[], p_software_id TEXT[], p_software_key TEXT[], p_org_id TEXT[],
    p_org_name TEXT[], p_client_name TEXT[], p_legal_entity_id TEXT[],
    p_legal_entity_name TEXT[], p_jwks_uri TEXT[], p_scope TEXT[], p_status TEXT[],
    p_ssa TEXT[], p_metadata TEXT[], p_client_id_issued_at BIGINT[], p_created_at BIGINT[],
    p_updated_at BIGINT[],
    p_occurred_at BIGINT[], p_actor TEXT[], p_action TEXT[], p_audit_client_id TEXT[],
    p_audit_software_id TEXT[], p_reason TEXT[], p_before_state TEXT[], p_after_state TEXT[],
    p_prev_hash TEXT[], p_hash TEXT[],
    OUT failed_at INT, OUT failure TEXT
) LANGUAGE plpgsql AS $$
DECLARE
    v_constraint TEXT;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_client_id, 1), 0) LOOP
        BEGIN
            IF p_jti_key[i] IS NOT NULL THEN
                INSERT INTO used_jti (jti_key, expires_at) VALUES (p_jti_key[i], p_jti_expires_at[i]);
            END IF;
            INSERT INTO registration (client_id, software_id, software_key, org_id, org_name,
                client_name, legal_entity_id, legal_entity_name, jwks_uri, scope, status, ssa,
                metadata, client_id_issued_at, created_at, updated_at)
            VALUES (p_client_id[i], p_software_id[i], p_software_key[i], p_org_id[i],
                p_org_name[i], p_client_name[i], p_legal_entity_id[i], p_legal_entity_name[i],
                p_jwks_uri[i], p_scope[i], p_status[i], p_ssa[i], p_metadata[i],
                p_client_id_issued_at[i], p_created_at[i], p_updated_at[i]);
            INSERT INTO audit_event (occurred_at, actor, action, client_id, software_id, reason,
                before_state, after_state, prev_hash, hash)
            VALUES (p_occurred_at[i], p_actor[i], p_action[i], p_audit_client_id[i],
                p_audit_software_id[i], p_reason[i], p_before_state[i], p_after_state[i],
                p_prev_hash[i], p_hash[i]);
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                failed_at := i;
                failure := 'unique:' || v_constraint;
                RETURN;
            WHEN check_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                failed_at := i;
                failure := 'check:' || v_constraint;
                RETURN;
            WHEN OTHERS THEN
                failed_at := i;
                failure := 'error:' || SQLSTATE || ':' || SQLERRM;
                RETURN;
        END;
    END LOOP;
END;
$$;
