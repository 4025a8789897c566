//! The shape of the code, checked: the top-level modules import each other
//! in one direction only (the order `lib.rs` documents), and no source file
//! of the workspace grows past 500 lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each module may import only those before it.
const ORDER: [&str; 11] =
    ["telemetry", "runtime", "db", "auth", "settings", "upstream", "http", "error", "check", "admin", "server"];
const MAX_LINES: usize = 500;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::x`, comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `$crate::` and longer names
            }
            let name: String =
                code[i + "crate::".len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
    found
}

#[test]
fn top_level_modules_import_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (rank, module) in ORDER.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{module}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for imported in imports(&text) {
                if imported == *module {
                    continue;
                }
                let position = ORDER.iter().position(|m| *m == imported);
                assert!(
                    position.is_some_and(|p| p < rank),
                    "{} imports crate::{imported}: `{module}` may import only {:?}",
                    file.display(),
                    &ORDER[..rank]
                );
            }
        }
    }
}

#[test]
fn the_import_scan_sees_imports_and_skips_comments() {
    let text = "use crate::db::Database;\n// crate::http in a comment\nlet x = $crate::auth::y; crate::runtime::z";
    assert_eq!(imports(text), ["db", "runtime"].into_iter().map(String::from).collect());
}

#[test]
fn no_source_file_is_over_500_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 40, "only {} files found", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}
