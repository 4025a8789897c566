use std::{
    cell::Cell,
    fmt::{self, Write},
    time::{Duration, Instant, SystemTime},
};

/// "Thu, 01 Jan 1970 00:00:00 GMT".len()
pub(crate) const DATE_VALUE_LENGTH: usize = 29;

#[derive(Clone, Copy)]
pub(crate) struct Date {
    pub(crate) bytes: [u8; DATE_VALUE_LENGTH],
    pos: usize,
}

impl Date {
    fn new() -> Date {
        let mut date = Date {
            bytes: [0; DATE_VALUE_LENGTH],
            pos: 0,
        };
        date.update();
        date
    }

    fn update(&mut self) {
        self.pos = 0;
        write!(self, "{}", httpdate::HttpDate::from(SystemTime::now())).unwrap();
    }
}

impl fmt::Write for Date {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let len = s.len();
        self.bytes[self.pos..self.pos + len].copy_from_slice(s.as_bytes());
        self.pos += len;
        Ok(())
    }
}

/// How long a cached date and instant are used (upstream: the period of
/// the task that refreshed them).
const REFRESH: Duration = Duration::from_millis(500);

/// The date and instant, refreshed at most every 500 millis.
///
/// ledger-server: refreshed when read, not by a task. Upstream spawned a
/// task with a 500 ms interval for every `ServiceConfig`, and awc's client
/// makes a `ServiceConfig` for every connection it opens: every request to
/// an upstream that closes its connections (gunicorn) spawned, armed
/// (waking the worker's event loop through its eventfd) and aborted a
/// task.
pub(crate) struct DateService {
    current: Cell<(Date, Instant)>,
}

impl DateService {
    pub(crate) fn new() -> Self {
        DateService {
            current: Cell::new((Date::new(), Instant::now())),
        }
    }

    /// The cached pair, refreshed first if it is older than `REFRESH`.
    fn fresh(&self) -> (Date, Instant) {
        let (date, then) = self.current.get();
        let now = Instant::now();
        if now.duration_since(then) < REFRESH {
            return (date, then);
        }
        let current = (Date::new(), now);
        self.current.set(current);
        current
    }

    pub(crate) fn now(&self) -> Instant {
        self.fresh().1
    }

    pub(crate) fn with_date<F: FnMut(&Date)>(&self, mut f: F) {
        f(&self.fresh().0);
    }
}

impl fmt::Debug for DateService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DateService").finish_non_exhaustive()
    }
}

