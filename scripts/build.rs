//! Build script of `ledger-server` (Cargo.toml: `build = "scripts/build.rs"`):
//! the commit the binary is built from, for `ledger-server --version`.
//!
//! `LEDGER_BUILD_COMMIT` wins (a build from a tarball or a packager's tree);
//! else `git rev-parse HEAD` of the checkout; else `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=LEDGER_BUILD_COMMIT");
    let commit = std::env::var("LEDGER_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=LEDGER_COMMIT={}", commit.trim());
    // Built again when HEAD moves: HEAD itself, the branch it names, and
    // packed refs (each as git places it, worktrees included).
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
