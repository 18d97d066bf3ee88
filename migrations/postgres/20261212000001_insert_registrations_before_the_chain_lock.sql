-- Registrations stored before the audit chain's lock is taken, so that instances sharing the
-- database insert their batches at the same time and queue only for the chain
-- (docs/decisions.md, "PostgreSQL: a batch of registrations is one function call").
-- `dcr_create_registrations` stored each registration with its audit event, so its caller held
-- the chain's lock across every insert of the batch; measured with two instances on one
-- database, the second instance's batches waited for the whole of the first's and the pair
-- registered fewer per second than one instance alone.
--
-- `dcr_insert_registrations` stores the used `jti` and the row of each registration, element i
-- of every array being registration i, each in its own subtransaction. At the first one that
-- fails (a duplicate software product, a replayed `jti`) it undoes that one alone and stops:
-- `failed_at` is its 1-based index, `failure` says why ('unique:<constraint>',
-- 'check:<constraint>' or 'error:<SQLSTATE>:<message>'); both are NULL when every registration
-- was stored. The caller sends the rest again, then takes the chain's lock and appends the
-- audit events of the stored registrations in one statement, in the same transaction.
-- `dcr_create_registrations` stays for instances of the previous release while a rolling upgrade
-- replaces them (docs/deploy.md, section 5); nothing of this release calls it.
CREATE FUNCTION dcr_insert_registrations(
    p_jti_key TEXT[], p_jti_expires_at BIGINT[],
    p_client_id TEXT[], p_software_id TEXT[], p_software_key TEXT[], p_org_id TEXT[],
    p_org_name TEXT[], p_client_name TEXT[], p_legal_entity_id TEXT[],
    p_legal_entity_name TEXT[], p_jwks_uri TEXT[], p_scope TEXT[], p_status TEXT[],
    p_ssa TEXT[], p_metadata TEXT[], p_client_id_issued_at BIGINT[], p_created_at BIGINT[],
    p_updated_at BIGINT[],
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
