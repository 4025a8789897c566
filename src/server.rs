//! Starting the server: the database (waited for, migrated), the shared
//! state, the actix `HttpServer`; and a server in the background for tests.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_http::{error::DispatchError, ConnectionType, Extensions, HttpService};
use actix_rt::net::TcpStream;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::{web, App};
use futures_util::future::ready;
use socket2::{Domain, Protocol, Socket, Type};

use crate::auth::jwt::TokenKey;
use crate::db::{Database, DbError};
use crate::error::StartupError;
use crate::http::conn::{Deadlines, Guarded};
use crate::http::{self, AppState};
use crate::runtime::BcryptPool;
use crate::settings::{Profile, Settings};
use crate::upstream::shadow::{Recorder, Redactor};
use crate::upstream::{Forwarder, FrontDoor};

/// How long in-flight requests may take to finish after SIGTERM/Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Connections the kernel queues before `accept`: gunicorn's default
/// (`--backlog 2048`; the kernel caps it at `net.core.somaxconn`).
/// `TcpListener::bind` leaves 128, and in a connection flood the attempts
/// that find the queue full are dropped and retried by the client after 1 s.
const BACKLOG: i32 = 2048;

/// Binds the first of `addrs` that can be bound (as `TcpListener::bind`
/// does), with [`BACKLOG`].
fn listen(addrs: impl ToSocketAddrs) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in addrs.to_socket_addrs()? {
        let bound = (|| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(BACKLOG)?;
            Ok::<_, std::io::Error>(TcpListener::from(socket))
        })();
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")))
}

/// The listening sockets a supervisor passed: systemd's socket activation
/// (`sd_listen_fds`), descriptors 3 to 3 + `LISTEN_FDS` - 1, for this
/// process when `LISTEN_PID` names it, named by `LISTEN_FDNAMES`.
pub(crate) struct Passed {
    fds: listenfd::ListenFd,
    names: Vec<String>,
    /// `LISTEN_PID` when it names another process (the sockets are not ours).
    other_pid: Option<String>,
}

impl Passed {
    /// Takes them from the environment and clears it of the `LISTEN_*`
    /// variables, as `sd_listen_fds(1)` does. Call it before any thread
    /// starts: changing the environment races with threads reading it.
    pub(crate) fn from_env() -> Passed {
        let names =
            std::env::var("LISTEN_FDNAMES").map(|n| n.split(':').map(str::to_owned).collect()).unwrap_or_default();
        let pid = std::env::var("LISTEN_PID").ok().filter(|p| !p.is_empty());
        let offered = std::env::var_os("LISTEN_FDS").is_some();
        let other_pid = pid.filter(|p| offered && p.parse() != Ok(std::process::id()));
        let fds = listenfd::ListenFd::from_env(); // removes LISTEN_PID and LISTEN_FDS
        std::env::remove_var("LISTEN_FDNAMES");
        Passed { fds, names, other_pid }
    }

    fn name(&self, index: usize) -> &str {
        self.names.get(index).map_or("", String::as_str)
    }

    /// The main port's socket, if one was passed: the one not named
    /// `admin`. It must be a listening TCP socket.
    fn take_main(&mut self) -> std::io::Result<Option<(TcpListener, String)>> {
        let main: Vec<usize> = (0..self.fds.len()).filter(|&i| self.name(i) != "admin").collect();
        if main.len() > 1 {
            let names: Vec<&str> = main.iter().map(|&i| self.name(i)).collect();
            let msg = format!(
                "{} sockets passed (LISTEN_FDNAMES {names:?}): ledger-server serves one, and one named `admin`",
                main.len()
            );
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg));
        }
        let Some(&index) = main.first() else { return Ok(None) };
        self.take(index)
    }

    /// The admin listener's socket, if one named `admin` was passed.
    fn take_admin(&mut self) -> std::io::Result<Option<(TcpListener, String)>> {
        match (0..self.fds.len()).find(|&i| self.name(i) == "admin") {
            Some(index) => self.take(index),
            None => Ok(None),
        }
    }

    /// Passed socket `index`, which must be a listening TCP socket, and how
    /// to name it in the log.
    fn take(&mut self, index: usize) -> std::io::Result<Option<(TcpListener, String)>> {
        let fd = 3 + index;
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        let listener = self
            .fds
            .take_tcp_listener(index)
            .map_err(|e| invalid(format!("{e} (a listening TCP socket is needed)")))?
            .ok_or_else(|| invalid(format!("fd {fd} was already taken")))?;
        if !socket2::SockRef::from(&listener).is_listener()? {
            return Err(invalid(format!("fd {fd} is a TCP socket that is not listening (ListenStream= is needed)")));
        }
        listener.set_nonblocking(true)?;
        let named = match self.name(index) {
            "" => String::new(),
            name => format!(" `{name}`"),
        };
        Ok(Some((listener, format!("fd {fd}{named}"))))
    }
}

/// The main port's listener: the socket passed by socket activation if
/// there is one (then `BIND` is not used), else `BIND` bound, and logged.
pub(crate) fn main_listener(settings: &Settings, passed: &mut Passed) -> Result<TcpListener, StartupError> {
    if let Some(pid) = &passed.other_pid {
        log::warn!("LISTEN_FDS is meant for process {pid}, not this one ({}): ignored", std::process::id());
    }
    let (listener, from) = match passed.take_main().map_err(StartupError::Activation)? {
        Some((listener, fd)) => (listener, format!("the socket passed as {fd} (LISTEN_FDS; BIND is not used)")),
        None => {
            let bind = |source| StartupError::Bind { addr: settings.bind.to_string(), source };
            (listen(&settings.bind).map_err(bind)?, "BIND".to_string())
        }
    };
    let addr = listener.local_addr().map_err(StartupError::Activation)?;
    log::info!("listening on http://{addr}, {from}");
    Ok(listener)
}

/// Opens the database named by the settings (no connection yet).
pub(crate) fn open_database(settings: &Settings) -> Result<Database, DbError> {
    let (url, size, tz) = (&settings.database_url, settings.pool_size, settings.time_zone);
    Database::open_with(url, size, tz, settings.sqlite_mmap_size, settings.database_pooler)
}

/// Opens the database and waits until it answers: a database server that
/// is unreachable at start is retried with exponential backoff (1 s up to
/// 30 s between attempts, for `max_wait` in all), each failure logged.
/// SQLite is a local file: its errors are final at once.
pub(crate) async fn connect_with_retry(settings: &Settings, max_wait: Duration) -> Result<Database, DbError> {
    let db = open_database(settings)?;
    let started = Instant::now();
    let mut delay = Duration::from_secs(1);
    loop {
        match db.ping().await {
            Ok(()) => return Ok(db),
            Err(e) if db.is_embedded() => return Err(e),
            Err(e) => {
                if started.elapsed() + delay > max_wait {
                    return Err(e);
                }
                log::warn!("database {} unreachable ({e}); retrying in {}s", db.backend_name(), delay.as_secs());
                actix_rt::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Applies pending migrations and logs what was applied.
pub(crate) async fn migrate(db: &Database) -> Result<(), DbError> {
    let applied = db.migrate().await?;
    if applied.is_empty() {
        log::info!("database schema is up to date");
    } else {
        log::info!("applied migrations: {}", applied.join(", "));
    }
    Ok(())
}

/// The shared state handlers see.
pub(crate) fn state(settings: &Settings, db: Database) -> Result<web::Data<AppState>, StartupError> {
    let hardened = match settings.profile {
        Profile::Compat => {
            for key in settings.ignored_under_compat() {
                log::warn!("{key} is set but PROFILE is compat: ignored (only the hardened profile reads it)");
            }
            None
        }
        Profile::Hardened => {
            log::info!("profile: hardened");
            if settings.bcrypt_cost < crate::auth::password::COST {
                log::warn!(
                    "BCRYPT_COST {} is below the original's {}: new hashes are cheaper to guess",
                    settings.bcrypt_cost,
                    crate::auth::password::COST
                );
            }
            let every = Duration::from_secs(settings.session_sweep_seconds.into());
            db.spawn_sweeper(every, settings.login_window.into()).map_err(StartupError::Threads)?;
            Some(http::state::Hardened::from_settings(settings))
        }
    };
    Ok(web::Data::new(AppState {
        hardened,
        db,
        key: TokenKey::new(settings.secret_key.expose(), settings.algorithm),
        bcrypt: bcrypt_pool(settings)?,
        access_log: settings.access_log.into(),
        trusted_proxies: settings.trusted_proxies.clone(),
        front_door: front_door(settings),
        shadow: recorder(settings)?,
    }))
}

/// The bcrypt threads, with `BCRYPT_YIELD` and `BCRYPT_CGROUP` applied.
fn bcrypt_pool(settings: &Settings) -> Result<BcryptPool, StartupError> {
    crate::runtime::gate::set_enabled(settings.bcrypt_yield);
    if !settings.bcrypt_yield {
        log::info!("BCRYPT_YIELD is off: bcrypt does not pause for cheap requests");
    }
    let max_wait = Duration::from_secs(settings.login_queue_seconds.into());
    BcryptPool::per_core(max_wait, settings.bcrypt_cgroup).map_err(StartupError::Threads)
}

/// `UPSTREAM`, announced.
fn front_door(settings: &Settings) -> Option<FrontDoor> {
    let door = FrontDoor::from_settings(settings)?;
    log::info!("front door: every request ledger-server does not serve goes to {}", door.upstream);
    if settings.profile == Profile::Hardened && !door.guarded.is_empty() {
        log::info!("front door: the hardened guard checks {} first", door.guarded.join(", "));
    }
    Some(door)
}

/// `SHADOW`: the recorder, its log file open.
fn recorder(settings: &Settings) -> Result<Option<Recorder>, StartupError> {
    if !settings.shadow {
        return Ok(None);
    }
    let path = &settings.shadow_log;
    let redactor = Redactor::new(settings.secret_key.expose());
    let recorder = Recorder::open(path, settings.shadow_sample, redactor)
        .map_err(|source| StartupError::ShadowLog { path: path.display().to_string(), source })?;
    log::info!(
        "shadow mode: Django answers /users/*; {} % of them are checked, differences go to {}",
        settings.shadow_sample * 100.0,
        path.display()
    );
    Ok(Some(recorder))
}

/// The limits each client connection is held to (see [`http::conn`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnLimits {
    pub deadlines: Deadlines,
    /// In all, over the workers.
    pub max_connections: u32,
}

impl ConnLimits {
    pub(crate) fn from_settings(settings: &Settings) -> Self {
        let secs = |n: u32| Duration::from_secs(n.into());
        ConnLimits {
            deadlines: Deadlines {
                head: secs(settings.head_timeout_seconds),
                request: secs(settings.request_timeout_seconds),
                idle: secs(settings.keep_alive_seconds),
            },
            max_connections: settings.max_connections,
        }
    }

    /// Keeps `MAX_CONNECTIONS` below the open-file limit, with
    /// [`FILES_RESERVED`] left for the database, logs and the listener: at
    /// the limit, new connections wait in the backlog instead of failing
    /// `accept` with `EMFILE`.
    fn fit_open_files(&mut self, soft_limit: u64) {
        let room = soft_limit.saturating_sub(FILES_RESERVED).max(1);
        if u64::from(self.max_connections) > room {
            log::warn!(
                "MAX_CONNECTIONS {} is above what the open-file limit {soft_limit} leaves; serving at most {room}",
                self.max_connections
            );
            self.max_connections = u32::try_from(room).unwrap_or(u32::MAX);
        }
    }
}

/// Descriptors kept for everything but client connections.
const FILES_RESERVED: u64 = 256;

/// Builds the server on a bound listener; `.await` it to serve until
/// SIGTERM or Ctrl-C, after which in-flight requests finish.
/// `signals: false` leaves SIGTERM/Ctrl-C to the embedding program (tests).
///
/// This is actix-web's `HttpServer` taken apart: the same HTTP/1 service
/// and application, with [`Guarded`] between each accepted socket and the
/// dispatcher (deadlines for every phase of a request, no reading ahead
/// while answers are unsent). HTTP/2 is not offered, as before.
pub(crate) fn http_server(
    state: web::Data<AppState>,
    listener: TcpListener,
    limits: ConnLimits,
    signals: bool,
) -> std::io::Result<actix_web::dev::Server> {
    // Database calls run on each worker's blocking threads. SQLite's are
    // local CPU work: one thread per worker keeps every core busy, and each
    // extra idle thread costs a wake-up per request (measured: 1 thread per
    // worker serves 40 % more guard requests than 4). Logouts, the busy
    // writes, go to the group-commit thread; a login's or signup's single
    // insert waits here for SQLite's one write lock, as Django's would.
    // A database server is waited on: as many threads as pooled connections.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let blocking = if state.db.is_embedded() { 1 } else { (state.db.pool_size() as usize / workers).max(2) };
    let per_worker = (limits.max_connections as usize).div_ceil(workers).max(1);
    let addr = listener.local_addr()?;
    let mut builder = actix_server::Server::build()
        .workers(workers)
        .worker_max_blocking_threads(blocking)
        .max_concurrent_connections(per_worker)
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs());
    if !signals {
        builder = builder.disable_signals();
    }
    // Once a graceful shutdown starts, every answer carries `Connection:
    // close` and closes its connection: a client sending continuously gets
    // its answer and reconnects to the listening socket, which a supervisor
    // (systemd) keeps open for the next process. Idle connections are left
    // to their keep-alive deadline (not closed at once, where a request
    // already on its way would meet the close): a restart races a client
    // no more than the keep-alive deadline always does.
    let draining = Arc::new(AtomicBool::new(false));
    let shutdown = builder.graceful_shutdown_signal();
    let flag = draining.clone();
    actix_rt::spawn(async move {
        shutdown.notified().await;
        flag.store(true, Ordering::Release);
    });
    let deadlines = limits.deadlines;
    builder = builder.listen("ledger-server", listener, move || {
        let accept = fn_service(move |io: TcpStream| {
            // As gunicorn's sockets: an answer streamed in pieces (the
            // front door relays Django's as it comes) must not wait for
            // the client's delayed ACK of the first (Nagle: +40 ms).
            let _ = io.set_nodelay(true);
            let peer = io.peer_addr().ok();
            ready(Ok::<_, DispatchError>((Guarded::new(io, deadlines), peer)))
        });
        let mut app = App::new().app_data(state.clone());
        if let Some(door) = &state.front_door {
            app = app.app_data(Forwarder::new(door.clone()));
        }
        let draining = draining.clone();
        let app = app.configure(http::configure).into_factory().map_err(|e: actix_web::Error| e.error_response()).map(
            move |mut res: ServiceResponse| {
                if draining.load(Ordering::Acquire) {
                    res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
                }
                res
            },
        );
        let h1 = HttpService::<Guarded, _, _>::build()
            .keep_alive(deadlines.idle)
            .client_request_timeout(deadlines.head)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            .on_connect_ext(|io: &Guarded, data: &mut Extensions| data.insert(io.watch()).map_or((), drop))
            .h1(map_config(app, |()| AppConfig::default()));
        accept.and_then(h1)
    })?;
    Ok(builder.run())
}

/// The whole `serve` command: wait for the database, migrate, bind, serve
/// until SIGTERM or Ctrl-C. `migrate_only` stops after migrating.
pub async fn run(settings: Settings, connect_patience: Duration, migrate_only: bool) -> Result<(), StartupError> {
    let mut passed = Passed::from_env();
    log::info!("database {}", settings.database_url);
    let db = connect_with_retry(&settings, connect_patience).await?;
    migrate(&db).await?;
    if migrate_only {
        return Ok(());
    }
    let mut limits = ConnLimits::from_settings(&settings);
    match crate::runtime::limits::raise_open_files() {
        Ok(files) => {
            log::info!("open files: soft limit {} (was {}), hard limit {}", files.soft, files.soft_before, files.hard);
            limits.fit_open_files(files.soft);
        }
        Err(e) => log::warn!("cannot raise the open-file limit: {e}"),
    }
    let listener = main_listener(&settings, &mut passed)?;
    let state = state(&settings, db)?;
    let admin = admin_listener(&settings, &state.db, &mut passed)?;
    http::reload::spawn(state.clone(), settings).map_err(StartupError::Threads)?;
    crate::runtime::heap::spawn_trimmer().map_err(StartupError::Threads)?;
    let served = http_server(state, listener, limits, true).map_err(StartupError::Serve)?.await;
    if let Some(admin) = admin {
        admin.stop(true).await;
    }
    served.map_err(StartupError::Serve)?;
    log::info!("stopped");
    Ok(())
}

/// `ADMIN_BIND`: the admin listener ([`crate::admin`]), served beside the
/// main one in this actix System; its handle, to stop it once the main
/// server has stopped.
fn admin_listener(
    settings: &Settings,
    db: &Database,
    passed: &mut Passed,
) -> Result<Option<actix_web::dev::ServerHandle>, StartupError> {
    let failed = |source| StartupError::AdminBind {
        addr: settings.admin_bind.as_ref().map_or_else(|| "(the passed socket)".to_owned(), ToString::to_string),
        source,
    };
    let (listener, from) = match passed.take_admin().map_err(StartupError::Activation)? {
        Some((listener, fd)) => (listener, format!(", the socket passed as {fd} (ADMIN_BIND is not used)")),
        None => {
            let Some(bind) = &settings.admin_bind else { return Ok(None) };
            (listen(bind).map_err(failed)?, String::new())
        }
    };
    log::info!(
        "admin listener on http://{}{from} (/health/alive, /health/ready, /metrics)",
        listener.local_addr().map_err(failed)?
    );
    let server = crate::admin::server(listener, db.clone(), settings).map_err(failed)?;
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(Some(handle))
}

/// A server running on its own thread (for tests): migrated, bound to
/// `127.0.0.1:0`, stopped when dropped.
pub struct BackgroundServer {
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a server in the background with these settings.
pub fn spawn_background(settings: Settings) -> Result<BackgroundServer, StartupError> {
    let listener = listen("127.0.0.1:0").map_err(|source| StartupError::Bind { addr: "127.0.0.1:0".into(), source })?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let started = async {
                let db = open_database(&settings)?;
                migrate(&db).await?;
                http_server(state(&settings, db)?, listener, ConnLimits::from_settings(&settings), false)
                    .map_err(StartupError::Serve)
            };
            match started.await {
                Ok(server) => {
                    let _ = tx.send(Ok(server.handle()));
                    let _ = server.await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    let handle = rx
        .recv()
        .map_err(|_| StartupError::Serve(std::io::Error::other("the server thread died while starting")))??;
    Ok(BackgroundServer { addr, handle, thread: Some(thread) })
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ = std::thread::spawn(move || actix_rt::System::new().block_on(handle.stop(false))).join();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
