//! ledger-server's integration tests, one binary (one link of the product)
//! with one module per concern, all built on `ledger_contract::kit`:
//!
//! | module | what it proves | needs |
//! | --- | --- | --- |
//! | [`bcrypt_oracle`] | `auth::password` and `pybcrypt` answer as Python bcrypt 3.2.0 on ~200 fresh random vectors the oracle's virtualenv makes (hashes for a salt, checks: right and wrong passwords, cut and suffixed hashes, bad prefixes) | the oracle's virtualenv |
//! | [`bcrypt_threads`] | the bcrypt threads are `SCHED_IDLE`, and in the idle cgroup with `BCRYPT_CGROUP = "auto"` where the server may make one (the start-up line says which), never with `off` | root and a cgroup v1 `cpu` hierarchy for the first test's cgroup half |
//! | [`browser`] | the frontend's flow in headless Chromium on another origin (preflights, credentials, a refused header, `Origin: null`): Django, ledger-server alone and behind the front door see the same; hardened as documented | the oracle, Chromium, `tests/browser/node_modules` |
//! | [`admin`] | the admin listener (`ADMIN_BIND`): alive, ready (503 naming the database down then back without a restart, an altered schema, a missing upstream), `/metrics` counts exactly what was sent and moves for bcrypt, pool, group commit, upstream, shadow and throttling; the main port's `/metrics` stays Django's 404 | PostgreSQL's server programs (one test) |
//! | [`check`] | `ledger-server check`: Django's and ledger-server's schemas pass; an altered column, tokens of another key, a closed upstream fail; no secret in the output | the oracle, the database server |
//! | [`contract`] | every recorded exchange replays identically, per backend | the database server of the backend |
//! | [`differential`] | live oracle vs the real binary, named + seeded random scenarios, per backend | the oracle, the database server |
//! | [`interop`] | Django and ledger-server on one database: cross signup/login/tokens/logout, rows, both migration orders | the oracle, the database server |
//! | [`interop_hardened`] | the same with ledger-server in the hardened profile: hardened tokens on Django's `/ledgers`, per-device logout and logout-all as Django's guard sees them (its one limit pinned), Django tokens on hardened, expired tokens | the oracle, the database server |
//! | [`shadow`] | shadow mode: matching servers report no mismatch and leave Django's rows, another key is reported request by request, the client always gets Django's bytes, no secret in the log | the oracle, the database server |
//! | [`multi_process`] | several ledger-server processes on one database behave as one | the database server |
//! | [`resilience`] | database down at start, outage while serving, recovery | PostgreSQL |
//! | [`front_door`] | the whole product through ledger-server in front of Django is byte-identical to Django alone (`/ledgers` and `/users`, answers and rows), per backend; hardened: the guard refuses logged-out, expired and garbage tokens before Django | the oracle, the database server |
//! | [`front_door_proxy`] | the forwarding itself against a scripted upstream ([`stub_upstream`]): request and answer unchanged, hop-by-hop and `X-Forwarded-*`, framing, 256 MiB both ways in bounded memory, pooling, 502/504, a dying upstream | nothing |
//! | [`hardened`] | the hardened profile (issue 14), every numbered item, answers byte for byte, per backend | the database server of the backend |
//! | [`hardened_fuzz`] | the hardened profile's property: thousands of generated requests, never a 500 or a panic (`HARDENED_FUZZ_CASES`) | nothing |
//! | [`hostile`] | clients that try to take the server down: impatient login storms, slow heads and bodies, pipelining non-readers, connection limits | nothing |
//! | [`storage`] | storage faults (read-only file, unwritable `-shm`, read-only sessions): no crash, 500 while they last, writes recover | `chattr` and root; PostgreSQL, MariaDB |
//! | [`pinned`] | what already survives stays pinned: slowloris, idle flood, full disk, frozen MariaDB, SIGKILL mid-write | root (the full-disk tmpfs), MySQL, PostgreSQL |
//! | [`logs`] | `LOG_FORMAT = "json"` lines and their request fields, `LOG_LEVEL` and `RUST_LOG`, the request id (a trusted proxy's or generated; logged, forwarded, never answered), no secret at `RUST_LOG=trace`, SIGHUP's reload of `LOG_LEVEL`, `ACCESS_LOG`, `SHADOW_SAMPLE` | PostgreSQL (the trace test) |
//! | [`cli`] | settings precedence and errors, defaults, graceful SIGTERM, secret-free logs | nothing |
//! | [`socket_activation`] | systemd's `LISTEN_FDS`: restarts on the passed socket under load fail no request; a passed fd that is not a listening socket stops startup | `systemd-socket-activate` (Debian's `systemd`) |
//! | [`pysettings`] | Django's own `my_settings.py` (`--settings`, found in the working directory) and `--django-settings settings.py`: each backend connects; the oracle's file is refused in one line | the database server of the backend |
//! | [`pooler`] | behind PgBouncer 1.18 in transaction mode, three instances sharing it: compat and hardened users' every answer, the rows, clean logs (`DATABASE_POOLER`) | PostgreSQL, `pgbouncer` |
//! | [`protocol`] | the documented parser-level differences | nothing |
//!
//! Naming convention (`ledger_contract::kit::needs`): a test that needs a
//! PostgreSQL server or PostgreSQL's server programs has the word
//! `postgres` in its full name (`module::function`, words separated by `_`
//! or `::`), one that needs MySQL/MariaDB the word `mysql`, one that needs
//! the Django oracle the word `oracle`. `cargo nextest run --profile
//! offline` leaves out exactly those (`.config/nextest.toml`); the default
//! profile runs everything, and a needed server or oracle that is missing
//! fails the test: nothing is skipped. The kit refuses to create a
//! PostgreSQL/MySQL database, a PostgreSQL instance or an oracle for a test
//! whose name does not say so.

// `cfg(test)` (always true in a test binary) marks the modules as test
// code, whose helpers clippy then lets unwrap as the tests do
// (clippy.toml: allow-unwrap-in-tests).
mod admin;
#[cfg(test)]
mod bcrypt_oracle;
#[cfg(test)]
mod bcrypt_threads;
#[cfg(test)]
mod browser;
#[cfg(test)]
mod check;
#[cfg(test)]
mod cli;
#[cfg(test)]
mod contract;
#[cfg(test)]
mod differential;
#[cfg(test)]
mod front_door;
#[cfg(test)]
mod front_door_proxy;
#[cfg(test)]
mod hardened;
#[cfg(test)]
mod hardened_fuzz;
#[cfg(test)]
mod hostile;
#[cfg(test)]
mod interop;
#[cfg(test)]
mod interop_hardened;
#[cfg(test)]
mod logs;
#[cfg(test)]
mod multi_process;
#[cfg(test)]
mod pinned;
#[cfg(test)]
mod pooler;
#[cfg(test)]
mod protocol;
#[cfg(test)]
mod pysettings;
#[cfg(test)]
mod resilience;
#[cfg(test)]
mod shadow;
#[cfg(test)]
mod socket_activation;
#[cfg(test)]
mod storage;
#[cfg(test)]
mod stub_upstream;

/// The ledger-server binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_ledger-server");
