-- The tables Django 3.2's `manage.py migrate` creates for users/0001_initial
-- on PostgreSQL (`manage.py sqlmigrate users 0001`). The foreign key is
-- declared inside CREATE TABLE, under Django's constraint name, so that the
-- whole migration can use IF NOT EXISTS and leave a database Django already
-- migrated untouched; the catalog it produces is identical (compare `\d`).
CREATE TABLE IF NOT EXISTS "users" ("id" bigserial NOT NULL PRIMARY KEY, "created_at" timestamp with time zone NOT NULL, "updated_at" timestamp with time zone NOT NULL, "email" varchar(100) NOT NULL UNIQUE, "password" varchar(200) NOT NULL);
CREATE TABLE IF NOT EXISTS "tokens" ("id" bigserial NOT NULL PRIMARY KEY, "token" varchar(100) NOT NULL, "user_id" bigint NOT NULL CONSTRAINT "tokens_user_id_9f60f1af_fk_users_id" REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX IF NOT EXISTS "users_email_0ea73cca_like" ON "users" ("email" varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS "tokens_user_id_9f60f1af" ON "tokens" ("user_id");
