//! The crate's layers: no module uses one above it (ARCHITECTURE.md draws
//! them). Read from the source: every path into another top-level module is
//! written `crate::module::...` (or names a root re-export), so the `crate::`
//! paths of a module's code, outside comments, are what it uses.

use std::{fs, path::Path};

/// Each top-level module and its layer, lowest first. A module may use the
/// modules of lower layers only; modules of one layer know nothing of each
/// other.
const LAYERS: &[(&str, u8)] = &[
    ("sys", 0),
    ("transport", 1),
    ("codec", 2),
    ("server", 3),
    ("client", 3),
    ("jsonrpc", 4),
    ("typed", 4),
    ("process", 4),
    ("service", 5),
];

/// What lib.rs re-exports at the root, and the module it comes from.
const ROOT_NAMES: &[(&str, &str)] = &[
    ("Endpoint", "transport"),
    ("Client", "client"),
    ("Server", "server"),
    ("serve", "server"),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|&(_, layer)| layer)
}

/// The top-level module a name after `crate::` belongs to.
fn module_of(name: &str) -> Option<&str> {
    if layer(name).is_some() {
        return Some(name);
    }
    ROOT_NAMES
        .iter()
        .find(|(root_name, _)| *root_name == name)
        .map(|&(_, module)| module)
}

/// The text of `source` without comments (doc links may point anywhere)
/// and without its unit tests (a file's last item, by convention), which
/// may use anything.
fn code(source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let tests = lines.windows(2).position(|pair| {
        pair[0].trim() == "#[cfg(test)]" && pair[1].trim_start().starts_with("mod ")
    });
    lines[..tests.unwrap_or(lines.len())]
        .iter()
        .map(|line| match line.find("//") {
            // `//` inside a string on the same line is rare enough in this
            // crate's code that cutting there only shortens a literal.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first name of each path in `crate::` paths, groups included:
/// `crate::{client, jsonrpc::Id}` gives `client` and `jsonrpc`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && !c.is_whitespace() => {
                        item_start = false;
                        names.push(ident_at(&group[i..]));
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        } else {
            names.push(ident_at(rest));
        }
    }
    names
}

fn ident_at(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ can be read") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(top) = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs"))
        else {
            continue;
        };
        let Some(own) = layer(top) else {
            // lib.rs: the root, which re-exports.
            continue;
        };
        let source = fs::read_to_string(file).unwrap();
        for name in crate_paths(&code(&source)) {
            checked += 1;
            let used = module_of(&name).unwrap_or_else(|| {
                panic!(
                    "{}: `crate::{name}` is no top-level module nor root re-export this \
                     test knows; add it to LAYERS or ROOT_NAMES",
                    relative.display()
                )
            });
            if used != top && layer(used).unwrap() >= own {
                upward.push(format!("{} uses crate::{name}", relative.display()));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found in {}",
        src.display()
    );
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "modules use modules of their own layer or above:\n{}",
        upward.join("\n")
    );
}

#[test]
fn paths_are_read_from_groups_and_comments_are_skipped() {
    let source = "use crate::{\n    client,\n    jsonrpc::{Id, Response},\n};\n\
                  // crate::service, in a comment\n\
                  let x = crate::sys::pipe(); /// crate::process\n";
    assert_eq!(crate_paths(&code(source)), ["client", "jsonrpc", "sys"]);
    let with_tests = "use crate::codec;\n#[cfg(test)]\nmod tests {\n    use crate::server;\n}\n";
    assert_eq!(crate_paths(&code(with_tests)), ["codec"]);
}
