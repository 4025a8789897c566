DROP TABLE IF EXISTS "ledger_login_attempts";
DROP TABLE IF EXISTS "ledger_sessions";
