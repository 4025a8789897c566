//! `ledger-record` against the Django oracle: one progress line per
//! scenario, and the fixtures it writes are the ones the contract replays.

use std::process::Command;

use ledger_contract::fixtures;

#[test]
fn oracle_recorder_prints_a_progress_line_per_scenario_and_writes_its_fixtures() {
    let out = tempfile::tempdir().unwrap();
    let names = ["happy_path", "cors_preflight"];
    let run = Command::new(env!("CARGO_BIN_EXE_ledger-record"))
        .args(["--backend", "sqlite", "--random-cases", "0", "--only", &names.join(",")])
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("ledger-record runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "ledger-record failed (it needs the oracle):\n{stdout}\n{stderr}");
    assert!(stderr.contains("sqlite: recording 2 scenarios"), "{stderr}");
    let progress: Vec<&str> = stdout.lines().filter(|l| l.starts_with("sqlite ") && l.contains("exchanges")).collect();
    assert_eq!(progress.len(), 2, "one line per scenario: {stdout}");
    for (i, (line, name)) in progress.iter().zip(names).enumerate() {
        assert!(line.contains(&format!("[{}/2] {name} ", i + 1)), "{line:?}");
        assert!(line.contains("s in all)"), "{line:?}");
    }
    for name in names {
        let written = out.path().join("sqlite").join(format!("{name}.json"));
        let recorded = fixtures::default_dir().join("sqlite").join(format!("{name}.json"));
        let (w, r) = (fixtures::read(&written).unwrap(), fixtures::read(&recorded).unwrap());
        assert_eq!(w.exchanges.len(), r.exchanges.len(), "{name}");
        for (a, b) in w.exchanges.iter().zip(&r.exchanges) {
            assert_eq!(a.response.status, b.response.status, "{name}: {:?}", a.request);
        }
    }
}
