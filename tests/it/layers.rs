//! The layers hold: each folder names nothing of the layers above it, so
//! the rules stay below the server and the store below the HTTP side.
//! (Test code at the end of a file, after `#[cfg(test)]`, is not read.)

use std::path::{Path, PathBuf};

/// A folder, and the modules of the crate it must never name.
const RULES: &[(&str, &[&str])] = &[
    (
        "src/domain",
        &[
            "api", "audit", "cli", "client", "config", "demo", "gateway", "mcp", "receipt",
            "server", "signing", "tui", "workflow",
        ],
    ),
    (
        "src/workflow",
        &[
            "cli", "client", "config", "demo", "gateway", "mcp", "server", "tui",
        ],
    ),
    (
        "src/server/store",
        &[
            "cli",
            "client",
            "demo",
            "gateway",
            "mcp",
            "tui",
            "server::handlers",
            "server::router",
            "server::state",
            "server::auth",
        ],
    ),
    ("src/api", &["cli", "client", "server", "tui", "workflow"]),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// Every `crate::…` a file's own code names that `forbidden` lists.
fn names_above(text: &str, forbidden: &[&str]) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        for name in forbidden {
            let next = rest[name.len().min(rest.len())..].chars().next();
            if rest.starts_with(name) && !next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                found.push(format!("crate::{name}"));
            }
        }
    }
    found
}

#[test]
fn no_layer_names_one_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    for (folder, forbidden) in RULES {
        let mut files = Vec::new();
        sources(&root.join(folder), &mut files);
        assert!(!files.is_empty(), "{folder} has no sources");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for name in names_above(&text, forbidden) {
                broken.push(format!("{} names {name}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_check_sees_what_it_looks_for() {
    let forbidden = &["server", "server::handlers"];
    assert_eq!(
        names_above("use crate::server::handlers::x;", forbidden),
        ["crate::server", "crate::server::handlers"]
    );
    assert!(names_above("use crate::servers::x; use crate::domain::y;", forbidden).is_empty());
    assert!(names_above("#[cfg(test)]\nmod t { use crate::server::x; }", forbidden).is_empty());
}
