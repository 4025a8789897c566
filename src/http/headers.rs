//! Request headers as WSGI hands them to Django.

use std::borrow::Cow;

use actix_web::HttpRequest;

/// A request header as WSGI presents it: absent, or every value joined
/// with "," (how gunicorn folds repeated headers). One value is borrowed.
pub fn joined_header<'a>(req: &'a HttpRequest, name: &str) -> Option<Cow<'a, [u8]>> {
    let mut values = req.headers().get_all(name);
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first.as_bytes()));
    };
    let mut joined = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.push(b',');
        joined.extend_from_slice(value.as_bytes());
    }
    Some(Cow::Owned(joined))
}
