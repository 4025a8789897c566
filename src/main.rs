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
use ledger_server::telemetry::log as logs;

/// `LOG_LEVEL`'s default, for the commands that read no settings first.
const DEFAULT_LEVEL: &str = "info";

/// How long to wait for an unreachable database server at start.
const CONNECT_PATIENCE: Duration = Duration::from_secs(300);

#[derive(Parser)]
#[command(name = "ledger-server", about = "The household-ledger users app, in Rust", disable_version_flag = true)]
struct Cli {
    /// Print the version, the commit, the backends built in and the
    /// profile the settings choose, then exit.
    #[arg(short = 'V', long)]
    version: bool,
    /// Settings file: TOML, or Django's my_settings.py (`.py`) (default:
    /// my_settings.toml, else my_settings.py, in the working directory).
    #[arg(long, value_name = "PATH", global = true)]
    settings: Option<PathBuf>,
    /// Django's settings.py of the project: also reads its TIME_ZONE, and
    /// refuses a setting whose answers ledger-server does not reproduce.
    #[arg(long, value_name = "PATH", global = true)]
    django_settings: Option<PathBuf>,
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
    /// Summarise shadow mode's logs (default: the SHADOW_LOG setting's file).
    /// Exit status: 0 without mismatches, 1 with some, 2 when a log cannot be read.
    ShadowReport {
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Lines are kept until the settings name the format and the level.
    logs::init();
    let cli = Cli::parse();
    let sources = || Sources { file: cli.settings.as_deref(), django: cli.django_settings.as_deref(), dotenv: true };
    if cli.version {
        logs::configure(logs::Format::Text, DEFAULT_LEVEL);
        print!("{}", version(sources()));
        return ExitCode::SUCCESS;
    }
    if matches!(cli.command, Some(Command::Check)) {
        logs::configure(logs::Format::Text, DEFAULT_LEVEL);
        return ExitCode::from(ledger_server::check::run(sources()));
    }
    if let Some(Command::ShadowReport { files }) = &cli.command {
        logs::configure(logs::Format::Text, DEFAULT_LEVEL);
        return shadow_report(sources(), files);
    }
    let migrate_only = matches!(cli.command, Some(Command::Migrate));
    let started = Settings::load(sources()).map_err(StartupError::from).and_then(|settings| {
        logs::configure(settings.log_format, &settings.log_level);
        warn_about(&settings);
        actix_rt::System::new().block_on(server::run(settings, CONNECT_PATIENCE, migrate_only))
    });
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // the lines kept so far (a bad setting: in the default format)
            logs::configure(logs::Format::Text, DEFAULT_LEVEL);
            eprintln!("ledger-server: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `shadow-report`: the logs named, or the settings' `SHADOW_LOG`.
fn shadow_report(sources: Sources<'_>, files: &[PathBuf]) -> ExitCode {
    let files = if files.is_empty() {
        match Settings::load(sources) {
            Ok(settings) => vec![settings.shadow_log],
            Err(e) => {
                eprintln!("ledger-server: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        files.to_vec()
    };
    let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    match ledger_server::upstream::report::summarise(&paths) {
        Ok(summary) => {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            print!("{}", summary.render(&names));
            ExitCode::from(u8::from(summary.mismatched() > 0))
        }
        Err(e) => {
            eprintln!("ledger-server: shadow-report: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--version`: what was built, and the profile these settings choose.
fn version(sources: Sources<'_>) -> String {
    let backends: Vec<&str> =
        [("sqlite", true), ("postgres", cfg!(feature = "postgres")), ("mysql", cfg!(feature = "mysql"))]
            .into_iter()
            .filter_map(|(name, built)| built.then_some(name))
            .collect();
    let profile = match Settings::load(sources) {
        Ok(settings) => settings.profile.to_string(),
        Err(e) => format!("unknown (the settings do not load: {e})"),
    };
    format!(
        "ledger-server {}\ncommit: {}\nbackends: {}\nprofile: {profile}\n",
        env!("CARGO_PKG_VERSION"),
        env!("LEDGER_COMMIT"),
        backends.join(", ")
    )
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
