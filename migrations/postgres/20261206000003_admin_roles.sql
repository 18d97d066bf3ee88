-- Administrator roles and account state (docs/portal.md, "Roles").
--
-- role: 'viewer' reads registrations, the audit log and the provisioning state; 'operator' also
-- revokes, releases and asks for provisioning deliveries; 'administrator' also manages the
-- administrators. Accounts made before roles existed are administrators, as they could do
-- everything. disabled_at: set while the account is disabled (no sign-in; its sessions end).
-- must_change_password: a first password set by another administrator, to be replaced at the
-- first sign-in. last_sign_in_at, last_sign_in_address: the last successful sign-in.
ALTER TABLE admin_user ADD COLUMN role TEXT NOT NULL DEFAULT 'administrator'
    CONSTRAINT admin_user_role_check CHECK (role IN ('viewer', 'operator', 'administrator'));
ALTER TABLE admin_user ADD COLUMN disabled_at BIGINT;
ALTER TABLE admin_user ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
ALTER TABLE admin_user ADD COLUMN last_sign_in_at BIGINT;
ALTER TABLE admin_user ADD COLUMN last_sign_in_address TEXT;

-- Whose session a record is (null before sign-in), so that an administrator's sessions can be
-- listed and ended; when it was signed in, from where and with what browser, and when it was
-- last used.
ALTER TABLE session ADD COLUMN admin_username TEXT;
ALTER TABLE session ADD COLUMN signed_in_at BIGINT;
ALTER TABLE session ADD COLUMN last_seen_at BIGINT;
ALTER TABLE session ADD COLUMN address TEXT;
ALTER TABLE session ADD COLUMN user_agent TEXT;
CREATE INDEX session_admin_username_idx ON session (admin_username);
