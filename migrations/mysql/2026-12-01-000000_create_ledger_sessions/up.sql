-- ledger-server's own tables (Django ignores them; `users` and `tokens`
-- keep Django's schema exactly). The hardened profile writes them; they are
-- created on every profile, so that switching profiles needs no migration.
-- Times are Unix seconds.
--
-- One row per token row a hardened login wrote, removed with it.
CREATE TABLE IF NOT EXISTS `ledger_sessions` (`token_id` bigint NOT NULL PRIMARY KEY, `user_id` bigint NOT NULL, `created_at` bigint NOT NULL, `expires_at` bigint NULL, `last_seen_at` bigint NOT NULL, `client_ip` varchar(45) NOT NULL, `user_agent` varchar(256) NOT NULL, INDEX `ledger_sessions_user_id` (`user_id`), INDEX `ledger_sessions_expires_at` (`expires_at`), CONSTRAINT `ledger_sessions_token_id_fk_tokens_id` FOREIGN KEY (`token_id`) REFERENCES `tokens` (`id`) ON DELETE CASCADE);
-- Failed logins and signups, counted per account and per client address
-- (`subject` is a SHA-256 hex digest, never the email or address itself).
CREATE TABLE IF NOT EXISTS `ledger_login_attempts` (`id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY, `scope` varchar(16) NOT NULL, `subject` varchar(64) NOT NULL, `at` bigint NOT NULL, INDEX `ledger_login_attempts_subject` (`scope`, `subject`, `at`), INDEX `ledger_login_attempts_at` (`at`));
