-- Accounts that sign in through the Data Holder's OpenID Connect provider (docs/portal.md,
-- "Single sign-on").
--
-- sso_subject: `<issuer> <sub>` of the provider's ID token, set on accounts made at their first
-- single sign-on; null for local accounts. Such an account has no usable password (its
-- password_hash is not a PHC string) and its role follows the provider's claim at each sign-in.
ALTER TABLE admin_user ADD COLUMN sso_subject TEXT;
CREATE UNIQUE INDEX admin_user_sso_subject_key ON admin_user (sso_subject);
