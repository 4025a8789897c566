-- The tables Django 3.2's `manage.py migrate` creates for users/0001_initial
-- on MySQL/MariaDB (`manage.py sqlmigrate users 0001`), charset and
-- collation inherited from the database as Django's are. The foreign key
-- is declared inside CREATE TABLE under Django's constraint name, so the
-- migration can use IF NOT EXISTS and leave Django's tables untouched; the
-- result is identical (compare SHOW CREATE TABLE).
CREATE TABLE IF NOT EXISTS `users` (`id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY, `created_at` datetime(6) NOT NULL, `updated_at` datetime(6) NOT NULL, `email` varchar(100) NOT NULL UNIQUE, `password` varchar(200) NOT NULL);
CREATE TABLE IF NOT EXISTS `tokens` (`id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY, `token` varchar(100) NOT NULL, `user_id` bigint NOT NULL, CONSTRAINT `tokens_user_id_9f60f1af_fk_users_id` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`));
