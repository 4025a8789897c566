//! `ledger-server`: `serve` (the default) migrates, then serves;
//! `migrate` only migrates; `check` checks and writes nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use ledger_server::db::DatabaseUrl;
use ledger_server::error::StartupError;
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
    /// Check the settings, the database, the schema, the migrations, the
    /// upstream, the stored tokens and the clock; write nothing. Exit
    /// status 0 only when no check fails.
    Check,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Check)) {
        return ExitCode::from(ledger_server::check::run(cli.settings.as_deref()));
    }
    let migrate_only = matches!(cli.command, Some(Command::Migrate));
    let started = Settings::load(Sources { file: cli.settings.as_deref(), dotenv: true })
        .map_err(StartupError::from)
        .and_then(|settings| {
            warn_about(&settings);
            actix_rt::System::new().block_on(server::run(settings, CONNECT_PATIENCE, migrate_only))
        });
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-server: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Settings that work but deserve a word.
fn warn_about(settings: &Settings) {
    if settings.secret_key.is_insecure() {
        log::warn!(
            "SECRET_KEY is not set: using the insecure development key; set SECRET_KEY in my_settings.toml, .env or the environment"
        );
    }
    if settings.sqlite_mmap_size > 0 && !matches!(settings.database_url, DatabaseUrl::Sqlite(_)) {
        log::warn!("SQLITE_MMAP_SIZE applies to SQLite only: ignored for this DATABASE_URL");
    }
}
