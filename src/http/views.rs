//! `users/views.py`: `SignUpView`, `LogInView` and `LogoutView`, branch for
//! branch. Each view is an actix handler; the guard is the [`LoggedIn`]
//! argument of [`logout`].

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;

use super::guard::{claimed_user, LoggedIn};
use super::response::message;
use super::response::{Answer, ALLOW_POST};
use super::routes::Route;
use super::state::AppState;
use crate::auth::password;
use crate::db::{Created, DbError, Subject, TokenRows};
use crate::upstream::shadow::Write;
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

/// The request body: still arriving, or already read (shadow mode reads
/// it first, to forward the same bytes to Django).
pub enum Incoming {
    Payload(web::Payload),
    Read(Vec<u8>),
}

/// `users.email` and `tokens.token` are `varchar(100)`.
const COLUMN_LENGTH: usize = 100;

/// Where a view's writes go: to the database, or in shadow mode's dry run
/// into a list (with whose rows the view read), the database untouched.
pub enum Writes {
    Commit,
    DryRun { intended: Vec<Write>, subject: Option<Subject> },
}

impl Writes {
    pub fn dry_run() -> Writes {
        Writes::DryRun { intended: Vec::new(), subject: None }
    }

    fn is_dry_run(&self) -> bool {
        matches!(self, Writes::DryRun { .. })
    }

    /// The view reads the rows of `who`.
    fn reads(&mut self, who: Subject) {
        if let Writes::DryRun { subject, .. } = self {
            subject.get_or_insert(who);
        }
    }

    async fn create_user(&mut self, state: &AppState, email: String, hash: String) -> Result<Created, DbError> {
        match self {
            Writes::Commit => state.db.create_user(email, hash).await,
            Writes::DryRun { intended, .. } => {
                // what the database would refuse or cut, as it would
                let Some(stored) = state.db.stored_varchar(&email, COLUMN_LENGTH) else {
                    return Err(DbError::DryRun("value too long for users.email varchar(100)"));
                };
                // MySQL cut it to an email that exists: Django's IntegrityError
                if stored != email && state.db.email_exists(stored.clone()).await? {
                    return Err(DbError::DryRun("the email, cut to varchar(100), is another user's"));
                }
                intended.push(Write::CreateUser { email: stored });
                Ok(Created::Created)
            }
        }
    }

    async fn add_token(&mut self, state: &AppState, user_id: i64, token: String) -> Result<(), DbError> {
        match self {
            Writes::Commit => state.db.add_token(user_id, token).await,
            Writes::DryRun { intended, .. } => {
                if state.db.stored_varchar(&token, COLUMN_LENGTH).is_none() {
                    return Err(DbError::DryRun("value too long for tokens.token varchar(100)"));
                }
                intended.push(Write::AddToken { user_id, token });
                Ok(())
            }
        }
    }

    async fn delete_token(&mut self, state: &AppState, token_id: i64) -> Result<(), DbError> {
        match self {
            Writes::Commit => state.db.delete_token(token_id).await,
            Writes::DryRun { intended, .. } => {
                intended.push(Write::DeleteToken { token_id });
                Ok(())
            }
        }
    }
}

/// `request.body`, as Django reads it from gunicorn: the declared
/// `Content-Length` bytes (none without the header).
pub(crate) async fn request_body(req: &HttpRequest, incoming: Incoming) -> Result<Vec<u8>, Answer> {
    let mut payload = match incoming {
        Incoming::Payload(payload) => payload,
        Incoming::Read(body) => return declared_body(req, body),
    };
    let Some(declared) = declared_length(req)? else {
        return Ok(Vec::new());
    };
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

/// `CONTENT_LENGTH` as Django reads it: none without the header; a value
/// `int()` refuses raises; one over [`MAX_BODY`] is refused (400).
fn declared_length(req: &HttpRequest) -> Result<Option<u64>, Answer> {
    let Some(v) = req.headers().get("content-length") else {
        return Ok(None);
    };
    let declared = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or(Answer::raises("ValueError: int() of CONTENT_LENGTH"))?;
    if declared > MAX_BODY {
        return Err(Answer::BadRequest);
    }
    Ok(Some(declared))
}

/// [`request_body`] of bytes already read: the same checks of the header.
fn declared_body(req: &HttpRequest, mut body: Vec<u8>) -> Result<Vec<u8>, Answer> {
    let Some(declared) = declared_length(req)? else {
        return Ok(Vec::new());
    };
    body.truncate(declared as usize);
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
pub async fn signup(req: &HttpRequest, payload: Incoming, state: &AppState, writes: &mut Writes) -> Answer {
    signup_inner(req, payload, state, writes).await.unwrap_or_else(|answer| answer)
}

async fn signup_inner(
    req: &HttpRequest,
    payload: Incoming,
    state: &AppState,
    writes: &mut Writes,
) -> Result<Answer, Answer> {
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
    // whose rows: the email as the database would store it
    writes.reads(Subject::Email(state.db.stored_varchar(&email, COLUMN_LENGTH).unwrap_or_else(|| email.clone())));
    if state.db.email_exists(email.clone()).await? {
        return Ok(message!(400, "EMAIL_ALREADY_EXISTS"));
    }
    // A dry run's answer does not depend on the hash: none is made.
    let hash = match writes.is_dry_run() {
        true => String::new(),
        false => state.bcrypt.run(move || password::hash(password.as_bytes())).await??,
    };
    match writes.create_user(state, email, hash).await? {
        Created::Created => Ok(message!(201, "SUCCESS")),
        // The original checked first and would fail on the race with a 500;
        // here the loser of a race gets the answer a later request gets.
        Created::Duplicate => Ok(message!(400, "EMAIL_ALREADY_EXISTS")),
    }
}

/// `POST /users/login`.
pub async fn login(req: &HttpRequest, payload: Incoming, state: &AppState, writes: &mut Writes) -> Answer {
    login_inner(req, payload, state, writes).await.unwrap_or_else(|answer| answer)
}

async fn login_inner(
    req: &HttpRequest,
    payload: Incoming,
    state: &AppState,
    writes: &mut Writes,
) -> Result<Answer, Answer> {
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
    writes.reads(Subject::Email(lookup.clone()));
    let Some(user) = state.db.find_by_email(lookup).await? else {
        return Ok(message!(401, "INVALID_USER"));
    };
    let candidate = text(item(&data, "password")?)?;
    if candidate.lone_surrogate {
        return Err(Answer::raises(SURROGATE));
    }
    let candidate = candidate.as_str().to_owned();
    let stored = user.password.clone();
    let matches = match password::CheckJob::new(candidate.as_bytes(), stored.as_bytes()) {
        // the expensive part on the pool, paired with another login's when one waits
        Ok(job) => job.finish(&state.bcrypt.eks(*job.eks()).await?),
        // what Python raises, after the pool's refusal as before
        Err(raised) => state.bcrypt.run(move || Err::<bool, _>(raised)).await??,
    };
    if !matches {
        return Ok(message!(401, "INVALID_USER"));
    }
    let token = state.key.issue(user.id);
    writes.add_token(state, user.id, token.clone()).await?;
    Ok(Answer::json(200, &[("message", "SUCCESS"), ("access_token", &token)]))
}

/// `POST /users/logout`, behind `log_in_confirm`:
/// `Token.objects.get(user_id=user.id).delete()`. `get` finds the rows the
/// guard read with the user; the row is deleted by id.
pub async fn logout(user: LoggedIn, state: &AppState, writes: &mut Writes) -> Answer {
    let token_id = match user.tokens {
        TokenRows::One(id) => id,
        TokenRows::Several => return Answer::raises("MultipleObjectsReturned: the user has several token rows"),
    };
    match writes.delete_token(state, token_id).await {
        Ok(()) => message!(200, "LOGOUT_SUCCESS"),
        Err(e) => e.into(),
    }
}

/// Django's URL resolver, then `View.dispatch`: the view's handler for
/// the method (`post`; `options` is `View.options`), else 405; no view, 404.
pub async fn dispatch(
    route: Option<Route>,
    req: &HttpRequest,
    payload: Incoming,
    state: web::Data<AppState>,
    writes: &mut Writes,
) -> Answer {
    let Some(route) = route else {
        return Answer::NotFound;
    };
    if state.hardened.is_some() {
        return super::hardened::dispatch(route, req, payload, state).await;
    }
    match *req.method() {
        Method::POST => match route {
            Route::Signup => signup(req, payload, &state, writes).await,
            Route::Login => login(req, payload, &state, writes).await,
            Route::Logout => {
                if let Some(id) = writes.is_dry_run().then(|| claimed_user(req, &state)).flatten() {
                    writes.reads(Subject::User(id));
                }
                match LoggedIn::from_request(req, &mut Payload::None).await {
                    Ok(user) => logout(user, &state, writes).await,
                    Err(answer) => answer,
                }
            }
            // Only the hardened profile resolves these.
            Route::LogoutAll | Route::Sessions | Route::Session(_) => Answer::NotFound,
        },
        Method::OPTIONS => Answer::Options { allow: ALLOW_POST },
        _ => Answer::NotAllowed { allow: ALLOW_POST },
    }
}
