//! Each client connection's deadlines and back-pressure, between the socket
//! and actix's HTTP/1 dispatcher, which times out only the first request's
//! head and reads pipelined requests whatever is left unsent.
//!
//! [`Guarded`] wraps the accepted socket; the requests on it share its
//! [`Watch`] (through the connection's extensions), and the middleware
//! marks when each begins and ends. A connection is closed (its reads or
//! writes fail with `TimedOut`, which ends actix's dispatcher) when:
//!
//! - a request head takes longer than [`Deadlines::head`] from its first
//!   byte (every request on a keep-alive connection, not only the first);
//! - a request takes longer than [`Deadlines::request`] from the first
//!   byte of its head to its answer (body and handler included: gunicorn's
//!   30 s worker timeout);
//! - unsent answers wait longer than [`Deadlines::request`] for the client
//!   to read them;
//! - it stays idle longer than [`Deadlines::idle`] between requests.
//!
//! While answers are unsent (the client does not read), no further request
//! is read: a client that pipelines requests and never reads the answers
//! holds at most one read burst's answers in memory.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_rt::net::TcpStream;
use actix_rt::time::{sleep_until, Instant, Sleep};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// At most this many bytes are read before the dispatcher handles them
/// (its own limit is 128 KiB): the answers to one burst are what a client
/// that never reads can make the server hold.
const READ_BURST: usize = 8 * 1024;

/// How long each phase of a connection may last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// From the first byte of a request head to its end.
    pub head: Duration,
    /// From the first byte of a request head to its answer, and for unsent
    /// answers to be read.
    pub request: Duration,
    /// Between the end of an answer and the first byte of the next request.
    pub idle: Duration,
}

/// Where a connection is, as its requests tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing read yet: actix's own first-request timer applies.
    Fresh,
    /// Between requests, since `since`.
    Idle { since: Instant },
    /// A head is arriving; its first byte came at `since`.
    Head { since: Instant },
    /// A request is being served; its head began at `since`.
    Serving { since: Instant },
}

/// The phase a connection and the requests on it share (one worker thread).
#[derive(Clone, Debug)]
pub struct Watch(Rc<Cell<Phase>>);

impl Watch {
    fn new() -> Self {
        Watch(Rc::new(Cell::new(Phase::Fresh)))
    }

    /// A request begins to be served; the returned guard ends it when
    /// dropped (answered, or abandoned with its connection).
    pub fn begin(&self) -> Serving {
        let since = match self.0.get() {
            Phase::Head { since } => since,
            Phase::Fresh | Phase::Idle { .. } | Phase::Serving { .. } => Instant::now(),
        };
        self.0.set(Phase::Serving { since });
        Serving(self.clone())
    }

    /// Bytes arrived: the first of a request head, unless one is underway.
    fn bytes_arrived(&self) {
        if let Phase::Fresh | Phase::Idle { .. } = self.0.get() {
            self.0.set(Phase::Head { since: Instant::now() });
        }
    }
}

/// A request being served (see [`Watch::begin`]).
#[derive(Debug)]
pub struct Serving(Watch);

impl Drop for Serving {
    fn drop(&mut self) {
        (self.0).0.set(Phase::Idle { since: Instant::now() });
    }
}

/// The socket of one client connection, with its deadlines.
pub struct Guarded {
    io: TcpStream,
    watch: Watch,
    limits: Deadlines,
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is set to.
    armed: Option<Instant>,
    /// Since when answers have waited for the client to read them (a write
    /// that would block, and no complete flush since).
    unsent_since: Option<Instant>,
    /// Bytes read since the dispatcher last found nothing to read.
    burst: usize,
}

impl Guarded {
    pub fn new(io: TcpStream, limits: Deadlines) -> Self {
        let now = Instant::now();
        Guarded {
            io,
            watch: Watch::new(),
            limits,
            timer: Box::pin(sleep_until(now)),
            armed: None,
            unsent_since: None,
            burst: 0,
        }
    }

    /// What the connection's requests share (see [`Watch::begin`]).
    pub fn watch(&self) -> Watch {
        self.watch.clone()
    }

    /// The earliest deadline now, and which phase it closes.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        let phase = match self.watch.0.get() {
            Phase::Fresh => None,
            // Idle only once everything is sent.
            Phase::Idle { since } => self.unsent_since.is_none().then_some((since + self.limits.idle, "idle")),
            Phase::Head { since } => Some((since + self.limits.head, "request head")),
            Phase::Serving { since } => Some((since + self.limits.request, "request")),
        };
        let unsent = self.unsent_since.map(|since| (since + self.limits.request, "unread answer"));
        match (phase, unsent) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Fails once the current deadline has passed; otherwise arms the timer
    /// so that the dispatcher is woken when it passes.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some((deadline, phase)) = self.deadline() else { return Ok(()) };
        if self.armed != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        if Instant::now() >= deadline || self.timer.as_mut().poll(cx).is_ready() {
            log::debug!("closing a connection: its {phase} took too long");
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{phase} deadline passed")));
        }
        Ok(())
    }
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        if this.unsent_since.is_some() {
            // The write that would block woke the dispatcher's task when
            // the socket drains; `poll_flush` then wakes it to read again.
            return Poll::Pending;
        }
        if this.burst >= READ_BURST {
            this.burst = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.burst += buf.filled().len() - before;
                this.watch.bytes_arrived();
            }
            Poll::Pending => this.burst = 0,
            Poll::Ready(_) => {}
        }
        polled
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if polled.is_pending() {
            this.unsent_since.get_or_insert_with(Instant::now);
            if let Err(e) = this.check(cx) {
                return Poll::Ready(Err(e));
            }
        }
        polled
    }

    /// actix flushes once every buffered byte is written.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.unsent_since.take().is_some() {
            // Reads were held back while answers were unsent.
            cx.waker().wake_by_ref();
        }
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_request_begins_where_its_head_began_and_ends_idle() {
        let watch = Watch::new();
        assert_eq!(watch.0.get(), Phase::Fresh);
        watch.bytes_arrived();
        let Phase::Head { since } = watch.0.get() else { panic!("{:?}", watch.0.get()) };
        watch.bytes_arrived();
        assert_eq!(watch.0.get(), Phase::Head { since }, "later bytes of the same head keep its start");
        let serving = watch.begin();
        assert_eq!(watch.0.get(), Phase::Serving { since });
        watch.bytes_arrived();
        assert_eq!(watch.0.get(), Phase::Serving { since }, "pipelined bytes do not restart the request");
        drop(serving);
        assert!(matches!(watch.0.get(), Phase::Idle { .. }));
        watch.bytes_arrived();
        assert!(matches!(watch.0.get(), Phase::Head { since: next } if next >= since));
    }
}
