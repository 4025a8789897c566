//! Where bcrypt runs (issue 17 §2): its threads are `SCHED_IDLE`, and with
//! `BCRYPT_CGROUP = "auto"` they sit in the idle cgroup `ledger-bcrypt`
//! where the server may make one (as root on a cgroup v1 `cpu` hierarchy
//! with `cpu.idle`, the machines CI runs on), the start-up line saying
//! so; with `off` they stay in the server's cgroup. The real binary.

use std::time::Duration;

use ledger_contract::kit::{LedgerBinary, ServerProcess};

/// The bcrypt threads of process `pid`: (their `/proc/…/cgroup` text,
/// their scheduling policy number).
fn bcrypt_threads(pid: u32) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("bcrypt-") {
            continue;
        }
        let cgroup = std::fs::read_to_string(dir.join("cgroup")).unwrap();
        let sched = std::fs::read_to_string(dir.join("sched")).unwrap();
        let policy = sched
            .lines()
            .find_map(|l| l.strip_prefix("policy")?.split(':').nth(1)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no policy in {sched}"));
        found.push((cgroup, policy));
    }
    found
}

fn start(cgroup: &str, dir: &std::path::Path) -> ServerProcess {
    LedgerBinary::new(crate::BIN, dir)
        .setting("SECRET_KEY", "bcrypt-threads-key")
        .setting("BCRYPT_CGROUP", cgroup)
        .setting("RUST_LOG", "info")
        .start()
        .unwrap_or_else(|e| panic!("server did not start: {e}"))
}

/// Whether this process may make the group: root, and a v1 `cpu`
/// hierarchy with `cpu.idle` at the usual place.
fn may_make_one() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let root = status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    root && std::path::Path::new("/sys/fs/cgroup/cpu/cpu.idle").exists()
}

const SCHED_IDLE: u32 = 5;

#[test]
fn bcrypt_threads_run_idle_and_join_the_idle_cgroup_where_one_may_be_made() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start("auto", dir.path());
    let log = server.log();
    let said_joined = log.contains("bcrypt threads run in the idle cgroup");
    // a thread joins as it starts: give the last one a moment
    let mut threads = bcrypt_threads(server.process.id());
    for _ in 0..50 {
        if !said_joined || threads.iter().all(|(cgroup, _)| cgroup.contains("/ledger-bcrypt")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        threads = bcrypt_threads(server.process.id());
    }
    assert!(!threads.is_empty(), "no bcrypt thread:\n{log}");
    assert!(threads.iter().all(|(_, policy)| *policy == SCHED_IDLE), "{threads:?}");
    let in_group = threads.iter().filter(|(cgroup, _)| cgroup.contains("/ledger-bcrypt")).count();
    if may_make_one() {
        assert!(said_joined, "the server may make the group, yet:\n{log}");
    }
    if said_joined {
        assert_eq!(in_group, threads.len(), "the log says so, but: {threads:?}");
    } else {
        assert!(log.contains("bcrypt threads stay in the server's cgroup"), "{log}");
        assert_eq!(in_group, 0, "{threads:?}");
    }
    let (code, _) = server.terminate(Duration::from_secs(30)).unwrap();
    assert_eq!(code, Some(0));
}

#[test]
fn bcrypt_cgroup_off_leaves_the_threads_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start("off", dir.path());
    let threads = bcrypt_threads(server.process.id());
    assert!(!threads.is_empty());
    assert!(
        threads.iter().all(|(cgroup, policy)| !cgroup.contains("/ledger-bcrypt") && *policy == SCHED_IDLE),
        "{threads:?}"
    );
    let log = server.log();
    assert!(!log.contains("idle cgroup"), "{log}");
    let (code, _) = server.terminate(Duration::from_secs(30)).unwrap();
    assert_eq!(code, Some(0));
}
