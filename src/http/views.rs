//! `users/views.py`: `SignUpView`, `LogInView` and `LogoutView`, branch for
//! branch. Each view is an actix handler; the guard is the [`LoggedIn`]
//! argument of [`logout`].

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;

use super::guard::LoggedIn;
use super::response::message;
use super::response::{Answer, ALLOW_POST};
use super::routes::Route;
use super::state::AppState;
use crate::auth::password;
use crate::db::{Created, TokenRows};
use pycompat::pyjson::{loads, LoadError, PyStr, PyValue};
use pycompat::pylookup::{lookup_str, LookupError};
use pycompat::pyregex::{email_ok, password_ok};

/// `DATA_UPLOAD_MAX_MEMORY_SIZE`: a declared body over 2.5 MiB is refused
/// when the view first touches `request.body`.
pub const MAX_BODY: u64 = 2_621_440;

/// The deepest nesting of containers in a request body that the original
/// parses; one level more is a `RecursionError` (the 500 page). Measured on
/// the oracle.
pub const BODY_JSON_MAX_DEPTH: usize = 962;

/// `.encode("utf-8")` of a str with a lone surrogate.
const SURROGATE: &str = "UnicodeEncodeError: surrogates not allowed";

/// `request.body`, as Django reads it from gunicorn: the declared
/// `Content-Length` bytes (none without the header).
pub(crate) async fn request_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, Answer> {
    let declared = match req.headers().get("content-length") {
        None => return Ok(Vec::new()),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or(Answer::raises("ValueError: int() of CONTENT_LENGTH"))?,
    };
    if declared > MAX_BODY {
        return Err(Answer::BadRequest);
    }
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Answer::BadRequest)?;
        body.extend_from_slice(&chunk);
        if body.len() as u64 > declared {
            body.truncate(declared as usize);
            break;
        }
    }
    Ok(body)
}

/// `json.loads(request.body)`: `JSONDecodeError` is caught by the views;
/// `UnicodeDecodeError`, other `ValueError`s and `RecursionError` are not.
fn parse_body(body: &[u8]) -> Result<PyValue, Answer> {
    loads(body, BODY_JSON_MAX_DEPTH).map_err(|e| match e {
        LoadError::Decode => message!(400, "JSON_DECODE_ERROR"),
        LoadError::Unicode => Answer::raises("UnicodeDecodeError: the request body"),
        LoadError::IntTooLong => Answer::raises("ValueError: an integer in the body exceeds 4300 digits"),
        LoadError::Recursion => Answer::raises("RecursionError: the body nests too deep"),
    })
}

/// `data[key]`: `KeyError` → `KEY_ERROR`; indexing a non-dict is a
/// `TypeError` (500).
fn item<'a>(data: &'a PyValue, key: &str) -> Result<&'a PyValue, Answer> {
    match data {
        PyValue::Dict(items) => items
            .iter()
            .find(|(k, _)| !k.lone_surrogate && k.as_str() == key)
            .map(|(_, v)| v)
            .ok_or(message!(400, "KEY_ERROR")),
        _ => Err(Answer::raises("TypeError: the body is not a JSON object")),
    }
}

/// A value used where the original calls a `str` method (`re.match`,
/// `.encode("utf-8")`): anything else raises, and so does a lone
/// surrogate when encoded.
fn text(value: &PyValue) -> Result<&PyStr, Answer> {
    match value {
        PyValue::Str(s) => Ok(s),
        _ => Err(Answer::raises("TypeError: a str method on a value that is not a str")),
    }
}

/// `POST /users/signup`.
pub async fn signup(req: &HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Answer {
    signup_inner(req, payload, state).await.unwrap_or_else(|answer| answer)
}

async fn signup_inner(req: &HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<Answer, Answer> {
    let body = request_body(req, payload).await?;
    let data = parse_body(&body)?;
    let email = item(&data, "email")?;
    let password = item(&data, "password")?;
    if !email_ok(text(email)?) {
        return Ok(message!(400, "INVALID_EMAIL"));
    }
    if !password_ok(text(password)?) {
        return Ok(message!(400, "INVALID_PASSWORD"));
    }
    let (email, password) = (text(email)?.as_str().to_owned(), text(password)?.as_str().to_owned());
    if state.db.email_exists(email.clone()).await? {
        return Ok(message!(400, "EMAIL_ALREADY_EXISTS"));
    }
    let hash = state.bcrypt.run(move || password::hash(password.as_bytes())).await??;
    match state.db.create_user(email, hash).await? {
        Created::Created => Ok(message!(201, "SUCCESS")),
        // The original checked first and would fail on the race with a 500;
        // here the loser of a race gets the answer a later request gets.
        Created::Duplicate => Ok(message!(400, "EMAIL_ALREADY_EXISTS")),
    }
}

/// `POST /users/login`.
pub async fn login(req: &HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Answer {
    login_inner(req, payload, state).await.unwrap_or_else(|answer| answer)
}

async fn login_inner(req: &HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<Answer, Answer> {
    let body = request_body(req, payload).await?;
    let data = parse_body(&body)?;
    // `User.objects.get(email=data["email"])`: the CharField turns any
    // value into `str(value)`; `None` becomes `IS NULL`, which finds nobody.
    let lookup = match item(&data, "email")? {
        PyValue::Null => return Ok(message!(401, "INVALID_USER")),
        PyValue::Str(s) if s.lone_surrogate => return Err(Answer::raises(SURROGATE)),
        PyValue::Str(s) => s.as_str().to_owned(),
        other => lookup_str(other).map_err(|e| match e {
            LookupError::Resolve => Answer::raises("RecursionError: resolve_lookup_value of the nested email"),
            LookupError::Str => Answer::raises("RecursionError: str() of the nested email"),
        })?,
    };
    let Some(user) = state.db.find_by_email(lookup).await? else {
        return Ok(message!(401, "INVALID_USER"));
    };
    let candidate = text(item(&data, "password")?)?;
    if candidate.lone_surrogate {
        return Err(Answer::raises(SURROGATE));
    }
    let candidate = candidate.as_str().to_owned();
    let stored = user.password.clone();
    let matches = state.bcrypt.run(move || password::check(candidate.as_bytes(), stored.as_bytes())).await??;
    if !matches {
        return Ok(message!(401, "INVALID_USER"));
    }
    let token = state.key.issue(user.id);
    state.db.add_token(user.id, token.clone()).await?;
    Ok(Answer::json(200, &[("message", "SUCCESS"), ("access_token", &token)]))
}

/// `POST /users/logout`, behind `log_in_confirm`:
/// `Token.objects.get(user_id=user.id).delete()`. `get` finds the rows the
/// guard read with the user; the row is deleted by id.
pub async fn logout(user: LoggedIn, state: web::Data<AppState>) -> Answer {
    let token_id = match user.tokens {
        TokenRows::One(id) => id,
        TokenRows::Several => return Answer::raises("MultipleObjectsReturned: the user has several token rows"),
    };
    match state.db.delete_token(token_id).await {
        Ok(()) => message!(200, "LOGOUT_SUCCESS"),
        Err(e) => e.into(),
    }
}

/// Django's URL resolver, then `View.dispatch`: the view's handler for
/// the method (`post`; `options` is `View.options`), else 405; no view, 404.
pub async fn dispatch(
    route: Option<Route>,
    req: &HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Answer {
    let Some(route) = route else {
        return Answer::NotFound;
    };
    if state.hardened.is_some() {
        return super::hardened::dispatch(route, req, payload, state).await;
    }
    match *req.method() {
        Method::POST => match route {
            Route::Signup => signup(req, payload, state).await,
            Route::Login => login(req, payload, state).await,
            Route::Logout => match LoggedIn::from_request(req, &mut Payload::None).await {
                Ok(user) => logout(user, state).await,
                Err(answer) => answer,
            },
            // Only the hardened profile resolves these.
            Route::LogoutAll | Route::Sessions | Route::Session(_) => Answer::NotFound,
        },
        Method::OPTIONS => Answer::Options { allow: ALLOW_POST },
        _ => Answer::NotAllowed { allow: ALLOW_POST },
    }
}
