-- Passkeys (WebAuthn credentials) as a second factor for portal accounts (docs/portal.md,
-- "Passkeys").
--
-- credential_id: the credential's id (base64url), unique across accounts, so that an
-- authenticator's credential names one account. passkey: webauthn-rs' Passkey as JSON (the
-- public key, its algorithm and the signature counter; nothing secret). name: what the person
-- called it. last_used_at: the last sign-in or confirmation it made. An account's passkeys go
-- when its second factors are reset by an administrator.
CREATE TABLE admin_passkey (
    admin_passkey_id TEXT NOT NULL CONSTRAINT admin_passkey_pkey PRIMARY KEY,
    admin_username TEXT NOT NULL,
    credential_id TEXT NOT NULL CONSTRAINT admin_passkey_credential_id_key UNIQUE,
    passkey TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX admin_passkey_admin_username_idx ON admin_passkey (admin_username);
