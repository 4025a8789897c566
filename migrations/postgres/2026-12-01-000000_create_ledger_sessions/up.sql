-- ledger-server's own tables (Django ignores them; `users` and `tokens`
-- keep Django's schema exactly). The hardened profile writes them; they are
-- created on every profile, so that switching profiles needs no migration.
-- Times are Unix seconds.
--
-- One row per token row a hardened login wrote, removed with it.
CREATE TABLE IF NOT EXISTS "ledger_sessions" ("token_id" bigint NOT NULL PRIMARY KEY CONSTRAINT "ledger_sessions_token_id_fk_tokens_id" REFERENCES "tokens" ("id") ON DELETE CASCADE, "user_id" bigint NOT NULL, "created_at" bigint NOT NULL, "expires_at" bigint NULL, "last_seen_at" bigint NOT NULL, "client_ip" varchar(45) NOT NULL, "user_agent" varchar(256) NOT NULL);
CREATE INDEX IF NOT EXISTS "ledger_sessions_user_id" ON "ledger_sessions" ("user_id");
CREATE INDEX IF NOT EXISTS "ledger_sessions_expires_at" ON "ledger_sessions" ("expires_at");
-- Failed logins and signups, counted per account and per client address
-- (`subject` is a SHA-256 hex digest, never the email or address itself).
CREATE TABLE IF NOT EXISTS "ledger_login_attempts" ("id" bigserial NOT NULL PRIMARY KEY, "scope" varchar(16) NOT NULL, "subject" varchar(64) NOT NULL, "at" bigint NOT NULL);
CREATE INDEX IF NOT EXISTS "ledger_login_attempts_subject" ON "ledger_login_attempts" ("scope", "subject", "at");
CREATE INDEX IF NOT EXISTS "ledger_login_attempts_at" ON "ledger_login_attempts" ("at");
