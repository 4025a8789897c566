-- Drops the users app's tables, including rows Django wrote: only for a
-- database that ledger-server alone uses.
DROP INDEX IF EXISTS "tokens_user_id_9f60f1af";
DROP TABLE IF EXISTS "tokens";
DROP TABLE IF EXISTS "users";
