//! `ledger-server`: `serve` (the default) migrates, then serves;
//! `migrate` only migrates.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use ledger_server::db::redact_url;
use ledger_server::server;
use ledger_server::settings::{Settings, Sources};

/// How long to wait for an unreachable database server at start.
const CONNECT_PATIENCE: Duration = Duration::from_secs(300);

#[derive(Parser)]
#[command(name = "ledger-server", version, about = "The household-ledger users app, in Rust")]
struct Cli {
    /// Settings file (default: my_settings.toml in the working directory, if present).
    #[arg(long, value_name = "PATH", global = true)]
    settings: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let settings = match Settings::load(Sources { file: cli.settings.as_deref(), dotenv: true }) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("ledger-server: {e}");
            return ExitCode::from(2);
        }
    };
    if settings.insecure_key {
        log::warn!(
            "SECRET_KEY is not set: using the insecure development key; set SECRET_KEY in my_settings.toml, .env or the environment"
        );
    }
    if settings.sqlite_mmap_size > 0
        && !matches!(
            ledger_server::db::DatabaseUrl::parse(&settings.database_url),
            Ok(ledger_server::db::DatabaseUrl::Sqlite(_))
        )
    {
        log::warn!("SQLITE_MMAP_SIZE applies to SQLite only: ignored for this DATABASE_URL");
    }
    match run(cli.command.unwrap_or(Command::Serve), settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, settings: Settings) -> Result<(), String> {
    log::info!("database {}", redact_url(&settings.database_url));
    let db = server::connect_with_retry(&settings, CONNECT_PATIENCE).map_err(|e| format!("DATABASE_URL: {e}"))?;
    server::migrate(&db).map_err(|e| format!("DATABASE_URL: {e}"))?;
    if let Command::Migrate = command {
        return Ok(());
    }
    let listener = TcpListener::bind(&settings.bind).map_err(|e| format!("BIND {}: {e}", settings.bind))?;
    log::info!("listening on http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let state = server::state(&settings, db).map_err(|e| format!("cannot start the bcrypt threads: {e}"))?;
    actix_rt::System::new()
        .block_on(async move { server::http_server(state, listener, true)?.await })
        .map_err(|e| format!("server: {e}"))?;
    log::info!("stopped");
    Ok(())
}
