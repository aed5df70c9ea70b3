//! The layers below the console (`node/`, `cluster/`, `logs/`, `creds/`)
//! must not reach up into it (`app/`, `ui/`): that is what keeps the import
//! graph a tree one can read from the bottom. The words they share with the
//! console live in `src/model.rs`.

use std::path::{Path, PathBuf};

const LOWER: &[&str] = &["node", "cluster", "logs", "creds"];
const UPPER: &[&str] = &["app", "ui"];
/// What drawing must not reach: the SSH and Kubernetes sides.
const IO: &[&str] = &["node", "cluster"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every use of an upper layer in `code`: `crate::app::…`, `crate::ui;`,
/// and the grouped form `crate::{app::…, …}`. Comment lines do not count.
fn upward_uses(code: &str) -> Vec<(usize, String)> {
    uses_of(code, UPPER)
}

/// Every use in `code` of one of the modules `banned`.
fn uses_of(code: &str, banned: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_group = false;
    for (n, line) in code.lines().enumerate() {
        let text = line.trim_start();
        if text.starts_with("//") {
            continue;
        }
        let mut hit = false;
        for up in banned {
            for prefix in ["crate::", "harvcred::", "super::super::"] {
                let needle = format!("{prefix}{up}");
                let mut from = 0;
                while let Some(i) = text[from..].find(&needle) {
                    let end = from + i + needle.len();
                    let next = text[end..].chars().next();
                    if !next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        hit = true;
                    }
                    from = end;
                }
            }
        }
        // `use crate::{app::X, ...}` spread over one or more lines.
        if text.contains("crate::{") {
            in_group = true;
        }
        if in_group {
            let after = text.split("crate::{").last().unwrap_or(text);
            for word in after.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if banned.contains(&word)
                    && after.contains(&format!("{word}::")) | after.contains(&format!("{word},"))
                {
                    hit = true;
                }
            }
            if text.contains('}') {
                in_group = false;
            }
        }
        if hit {
            found.push((n + 1, line.trim().to_string()));
        }
    }
    found
}

#[test]
fn lower_layers_import_nothing_from_app_or_ui() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offences = Vec::new();
    for layer in LOWER {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} has no Rust files");
        for f in files {
            let code = std::fs::read_to_string(&f).unwrap();
            for (line, text) in upward_uses(&code) {
                offences.push(format!(
                    "{}:{line}: {text}",
                    f.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "node/, cluster/, logs/ and creds/ must not use app/ or ui/ \
         (move the shared word to src/model.rs):\n{}",
        offences.join("\n")
    );
}

#[test]
fn drawing_uses_nothing_from_the_ssh_or_kubernetes_side() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("ui"), &mut files);
    let mut offences = Vec::new();
    for f in files {
        let code = std::fs::read_to_string(&f).unwrap();
        for (line, text) in uses_of(&code, IO) {
            offences.push(format!(
                "{}:{line}: {text}",
                f.strip_prefix(&src).unwrap().display()
            ));
        }
    }
    assert!(
        offences.is_empty(),
        "ui/ draws only: it must not use node/ or cluster/ (their words are in src/model.rs):\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_check_sees_each_way_of_reaching_up() {
    for code in [
        "use crate::app::Target;",
        "use crate::ui;",
        "let x = crate::app::natural_cmp(a, b);",
        "use crate::{\n    app::Msg,\n    model::Role,\n};",
        "use crate::{model::Role, ui::Theme};",
        "use super::super::app::Msg;",
    ] {
        assert!(!upward_uses(code).is_empty(), "missed: {code}");
    }
    for code in [
        "use crate::model::Target;",
        "// crate::app::Msg is what the console turns this into",
        "use crate::apply::Plan;",
        "use crate::{model::Role, node::Pool};",
    ] {
        assert!(upward_uses(code).is_empty(), "false alarm: {code}");
    }
}
