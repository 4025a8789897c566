//! Authentication: the tokens PyJWT issues, the passwords Python bcrypt
//! hashes, and the `log_in_confirm` guard as an actix extractor.

pub mod guard;
pub mod jwt;
pub mod password;

pub use guard::LoggedIn;
