//! Authentication, with no HTTP and no database in it: the tokens PyJWT
//! issues and checks ([`jwt`]), the `id` claim as Django's lookup reads it
//! ([`claims`]), the passwords Python bcrypt hashes and checks
//! ([`password`]), and the hardened profile's fresh tokens and their
//! digests ([`session`]). Refusals are returned as values ([`jwt::Rejection`],
//! [`password::PasswordError`]); the HTTP layer turns them into Django's
//! answers, and runs bcrypt on its own threads.

pub(crate) mod claims;
pub mod jwt;
pub mod password;
pub mod session;
