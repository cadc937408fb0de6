//! The layers inside the crate import one way: the Engine.IO layer (`src/engine/`) reaches
//! only the neutral modules below it (`handshake`, `hooks`, `http`, `packed_head`, `refusal`,
//! `sid`), and those reach nothing above them. The Socket.IO layer, namespaces, sockets and
//! the server sit on top and may use the engine; never the reverse. Read from the sources, so a new `use` that ties the
//! engine to Socket.IO fails here with the line that does it.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Modules with no dependency on anything above the engine.
const NEUTRAL: &[&str] = &[
    "handshake",
    "hooks",
    "http",
    "packed_head",
    "refusal",
    "sid",
];

/// The first-level modules of the crate (`crate::X`) that `text` names in code (comments are
/// skipped); `PeerAddr`, re-exported at the root from `handshake`, counts as `handshake`.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(if name == "PeerAddr" {
                "handshake".into()
            } else {
                name
            });
        }
        // `use crate::{a, b}` lists are not used in these layers; refuse them to keep this
        // reading exact.
        assert!(
            !code.contains("crate::{"),
            "a grouped `crate::{{..}}` import; name each module: {line}"
        );
    }
    found
}

/// Every `.rs` file under `dir`, its subfolders included.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn the_engine_reaches_only_the_neutral_modules() {
    let files = rust_files(&Path::new(SRC).join("engine"));
    assert!(
        files.iter().any(|f| f.ends_with("engine/ws/upgrade.rs")) && files.len() >= 8,
        "src/engine/ has moved? {files:?}"
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for m in crate_modules(&text) {
            assert!(
                m == "engine" || NEUTRAL.contains(&m.as_str()),
                "{} uses crate::{m}: the engine must not know the layers above it \
                 (allowed: engine, {NEUTRAL:?}); pass what it needs through engine::Handler \
                 or EngineConfig",
                file.display()
            );
        }
    }
}

#[test]
fn the_neutral_modules_reach_nothing_above_them() {
    for name in NEUTRAL {
        let file = Path::new(SRC).join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&file).unwrap();
        for m in crate_modules(&text) {
            assert!(
                NEUTRAL.contains(&m.as_str()),
                "{} uses crate::{m}, a module above it",
                file.display()
            );
        }
    }
}

#[test]
fn the_reading_sees_imports_and_paths_but_not_comments() {
    let text = "use crate::sio::SioConn;\n// crate::server in a comment\nlet x = crate::PeerAddr(a); crate::http::error(e)\n";
    let found: Vec<String> = crate_modules(text).into_iter().collect();
    assert_eq!(found, ["handshake", "http", "sio"]);
}
