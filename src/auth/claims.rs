//! The `id` claim as `log_in_confirm` uses it: `jwt.decode`, then
//! `User.objects.filter(id=payload["id"])`, whose field lookup is Python's
//! `int()`.

use pycompat::pyint::py_int;
use pycompat::pyjson::PyValue;

use super::jwt::{decode, Rejection, TokenKey};

/// How Django's field lookup would treat the token's `id` claim.
#[derive(Debug, PartialEq, Eq)]
pub enum UserRef {
    /// `id` is null: `filter(id=None)` is `IS NULL` and finds nobody.
    Nobody,
    Id(i64),
    /// An integer outside the 64-bit range: SQLite's driver cannot bind it
    /// (500); PostgreSQL and MySQL compare it and find nobody (401).
    OutOfRange,
}

/// `payload["id"]` as `User.objects.filter(id=...)` takes it: Python
/// `int()`. A missing key or a value `int()` refuses raise in the original.
pub fn user_ref(payload: &[(String, PyValue)]) -> Result<UserRef, Rejection> {
    let value = payload
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v)
        .ok_or(Rejection::Raises("KeyError: the token has no id claim"))?;
    if matches!(value, PyValue::Null) {
        return Ok(UserRef::Nobody);
    }
    let id = py_int(value).map_err(|_| Rejection::Raises("ValueError or TypeError: int() of the id claim"))?;
    Ok(id.to_i64().map(UserRef::Id).unwrap_or(UserRef::OutOfRange))
}

/// The token part of `log_in_confirm` for a raw `Authorization` header
/// value, at Unix time `now`: whom to look up, or why the original refuses.
pub fn token_user(authorization: Option<&[u8]>, key: &TokenKey, now: i64) -> Result<UserRef, Rejection> {
    user_ref(&decode(authorization, key, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pycompat::pyjson::loads;

    fn id_of(json: &str) -> Result<UserRef, Rejection> {
        let PyValue::Dict(items) = loads(json.as_bytes(), 100).unwrap() else { panic!("not an object") };
        let items: Vec<(String, PyValue)> = items.into_iter().map(|(k, v)| (k.text, v)).collect();
        user_ref(&items)
    }

    #[test]
    fn id_claim_follows_django_int_field() {
        for ok in [
            r#"{"id": 1}"#,
            r#"{"id": "1"}"#,
            r#"{"id": 1.0}"#,
            r#"{"id": 1.5}"#,
            r#"{"id": true}"#,
            r#"{"id": " 1 "}"#,
        ] {
            assert_eq!(id_of(ok).unwrap(), UserRef::Id(1), "{ok}");
        }
        assert_eq!(id_of(r#"{"id": null}"#).unwrap(), UserRef::Nobody);
        assert_eq!(id_of(r#"{"id": -7}"#).unwrap(), UserRef::Id(-7));
        assert_eq!(id_of(r#"{"id": 9223372036854775808}"#).unwrap(), UserRef::OutOfRange);
        assert_eq!(id_of(r#"{"id": -9223372036854775809}"#).unwrap(), UserRef::OutOfRange);
        assert_eq!(id_of(r#"{"id": 1e300}"#).unwrap(), UserRef::OutOfRange);
        for bad in [
            r#"{}"#,
            r#"{"id": "abc"}"#,
            r#"{"id": "1.0"}"#,
            r#"{"id": []}"#,
            r#"{"id": {}}"#,
            r#"{"id": NaN}"#,
            r#"{"id": Infinity}"#,
        ] {
            assert!(matches!(id_of(bad), Err(Rejection::Raises(_))), "{bad}");
        }
    }

    #[test]
    fn a_token_is_decoded_then_its_id_read() {
        let key = TokenKey::new("k", super::super::jwt::Algorithm::HS256);
        let token = key.issue(42);
        assert_eq!(token_user(Some(token.as_bytes()), &key, 0), Ok(UserRef::Id(42)));
        assert_eq!(token_user(None, &key, 0), Err(Rejection::Decode));
    }
}
