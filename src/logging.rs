//! Logging through `log` + `env_logger` (`RUST_LOG` sets the level), with
//! the writing moved off the request path: a log line is handed to a
//! dedicated thread that writes to stderr, so an async worker never waits
//! on a slow or blocked stderr (a full pipe to journald, a terminal).

use std::io::{self, Write};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

enum Message {
    Line(Vec<u8>),
    Flush(Sender<()>),
}

static QUEUE: OnceLock<Mutex<Sender<Message>>> = OnceLock::new();

/// `env_logger`'s target: queues each formatted record.
struct Queued {
    tx: Sender<Message>,
    pending: Vec<u8>,
}

impl Write for Queued {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            // The writer thread only stops with the process.
            let _ = self.tx.send(Message::Line(line));
        }
        Ok(())
    }
}

fn writer(rx: Receiver<Message>) {
    while let Ok(first) = rx.recv() {
        // Lock stderr per batch only: `eprintln!` elsewhere must not wait.
        let mut out = io::BufWriter::with_capacity(64 * 1024, io::stderr().lock());
        let mut next = Some(first);
        // Write everything already queued, then flush once.
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
}

/// Installs the logger: `RUST_LOG` if set, else `info`.
pub fn init() {
    let (tx, rx) = channel();
    std::thread::Builder::new().name("log-writer".into()).spawn(move || writer(rx)).expect("spawn log writer");
    let _ = QUEUE.set(Mutex::new(tx.clone()));
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Pipe(Box::new(Queued { tx, pending: Vec::new() })))
        .init();
}

/// Waits until every line logged so far has reached stderr (before exit).
pub fn flush() {
    let Some(queue) = QUEUE.get() else { return };
    let (done_tx, done_rx) = channel();
    if queue.lock().map(|tx| tx.send(Message::Flush(done_tx))).is_ok() {
        let _ = done_rx.recv_timeout(std::time::Duration::from_secs(5));
    }
}
