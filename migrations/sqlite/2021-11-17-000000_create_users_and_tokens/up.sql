-- The tables Django 3.2's `manage.py migrate` creates for users/0001_initial
-- on SQLite, statement for statement (compare `sqlite3 db .schema`).
-- IF NOT EXISTS: on a database Django already migrated they are left alone
-- (SQLite stores the statement without that clause, so the schema text is
-- identical either way).
CREATE TABLE IF NOT EXISTS "users" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "created_at" datetime NOT NULL, "updated_at" datetime NOT NULL, "email" varchar(100) NOT NULL UNIQUE, "password" varchar(200) NOT NULL);
CREATE TABLE IF NOT EXISTS "tokens" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "token" varchar(100) NOT NULL, "user_id" bigint NOT NULL REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX IF NOT EXISTS "tokens_user_id_9f60f1af" ON "tokens" ("user_id");
