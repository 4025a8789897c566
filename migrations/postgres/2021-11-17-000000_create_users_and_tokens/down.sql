-- Drops the users app's tables, including rows Django wrote: only for a
-- database that ledger-server alone uses.
DROP TABLE IF EXISTS "tokens";
DROP TABLE IF EXISTS "users";
