-- A second factor for portal accounts (docs/portal.md, "Second factor").
--
-- totp_secret: the account's RFC 6238 shared secret in base32, set once a code from it was
-- entered; null without a second factor. totp_enrolled_at: when. totp_last_step: the last time
-- step whose code was accepted, so that no code is accepted twice.
ALTER TABLE admin_user ADD COLUMN totp_secret TEXT;
ALTER TABLE admin_user ADD COLUMN totp_enrolled_at INTEGER;
ALTER TABLE admin_user ADD COLUMN totp_last_step INTEGER;

-- One-time recovery codes, made with the TOTP secret: only the SHA-256 digest of each 80-bit
-- code is kept (docs/decisions.md). used_at: set when the code was used; it is never accepted
-- again. All of an account's codes go when its second factor is removed or reset.
CREATE TABLE admin_recovery_code (
    admin_recovery_code_id TEXT NOT NULL CONSTRAINT admin_recovery_code_pkey PRIMARY KEY,
    admin_username TEXT NOT NULL,
    code_digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX admin_recovery_code_admin_username_idx ON admin_recovery_code (admin_username);
