//! The tidy test: rules of the code base that a reviewer would otherwise have to remember, checked
//! on every `cargo test` (after rust-analyzer's `xtask tidy` and TigerBeetle's `tidy.zig`). Each
//! failure names the file and line and says which rule, and where the rule is written down.

use crate::common;
use std::path::{Path, PathBuf};

/// The checkout, whichever folder the tests were built in.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir` (relative to the checkout), in a stable order.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Data the tests read, not code of ours.
                if path
                    .file_name()
                    .is_some_and(|name| name == "data" || name == "target")
                {
                    continue;
                }
                walk(&path, into);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                into.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join(dir), &mut files);
    files.sort();
    files
}

/// `path` relative to the checkout, with `/` separators.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The lines of `path` that are code: comments (`//`, `///`, `//!`) left out, and everything
/// from the file's first `#[cfg(test)]` on (unit tests may use what the code may not).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        lines.push((index + 1, line.to_string()));
    }
    lines
}

/// Whether the file is a unit-test module of its own (`tests.rs` or below a `tests/` folder
/// inside `src/`), to which the code's rules do not apply.
fn is_unit_test_file(path: &str) -> bool {
    path.ends_with("/tests.rs") || path.contains("/tests/") && path.starts_with("src/")
}

/// The folders whose Rust files are the product (as opposed to tests and benchmarks).
const PRODUCT: [&str; 3] = ["src", "tools", "ffi/src"];

fn product_files() -> Vec<(String, PathBuf)> {
    PRODUCT
        .iter()
        .flat_map(|dir| rust_files(dir))
        .map(|path| (relative(&path), path))
        .filter(|(name, _)| !is_unit_test_file(name))
        .collect()
}

fn fail_with(broken: Vec<String>, rule: &str) {
    assert!(
        broken.is_empty(),
        "{rule}\n{}",
        broken
            .iter()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_rust_file_starts_with_a_module_doc_paragraph() {
    let _turn = common::beside_others();
    let mut broken = Vec::new();
    for dir in [
        "src",
        "tools",
        "ffi/src",
        "ffi/tests",
        "tests",
        "benches",
        "fuzz",
    ] {
        for path in rust_files(dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            let first = text.lines().find(|line| !line.trim().is_empty());
            if !first.is_some_and(|line| line.starts_with("//!")) {
                broken.push(relative(&path));
            }
        }
    }
    fail_with(
        broken,
        "these files do not start with a `//!` paragraph saying what they are for \
         (STYLE.md: every module says what it owns):",
    );
}

/// Where operating-system calls may be made: the `shm` layer, the ADBC driver's `dladdr` (it
/// must find its own file, which no crate does for a C library), and the errno codes of the C
/// stream the driver returns.
const OS_CALLS_ALLOWED: [&str; 3] = ["src/shm/", "ffi/src/driver.rs", "ffi/src/c_stream.rs"];

#[test]
fn operating_system_calls_are_made_only_in_the_shm_layer() {
    let _turn = common::beside_others();
    let mut broken = Vec::new();
    for (name, path) in product_files() {
        if OS_CALLS_ALLOWED
            .iter()
            .any(|allowed| name.starts_with(allowed))
        {
            continue;
        }
        for (number, line) in code_lines(&path) {
            if names_crate(&line, "libc") || names_crate(&line, "nix") {
                broken.push(format!("{name}:{number}: {}", line.trim()));
            }
        }
    }
    fail_with(
        broken,
        "libc or nix is called outside `src/shm` (ARCHITECTURE.md: `shm` is the operating-system \
         layer); add a safe function to `shm` and call that:",
    );
}

/// Whether `line` has a path starting at crate `name` (`name::`, not `unix::` for `nix`).
fn names_crate(line: &str, name: &str) -> bool {
    line.match_indices(&format!("{name}::")).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Where `unsafe` may appear in the product: the layers that map and share memory, the one
/// that lends mapped bytes to Arrow, and the C ABI.
const UNSAFE_ALLOWED: [&str; 5] = [
    "src/shm/",
    "src/ring/",
    "src/exchange/framing/",
    "src/cache/entry.rs",
    "ffi/src/",
];

/// The `unsafe` blocks, functions, impls and attributes on `line`.
fn unsafe_uses(line: &str) -> usize {
    [
        "unsafe {",
        "unsafe fn",
        "unsafe impl",
        "unsafe extern",
        "unsafe(",
    ]
    .iter()
    .map(|token| line.matches(token).count())
    .sum()
}

#[test]
fn unsafe_code_stays_in_the_modules_that_need_it() {
    let _turn = common::beside_others();
    let mut broken = Vec::new();
    let mut count = 0;
    for (name, path) in product_files() {
        for (number, line) in code_lines(&path) {
            let uses = unsafe_uses(&line);
            count += uses;
            if uses > 0
                && !UNSAFE_ALLOWED
                    .iter()
                    .any(|allowed| name.starts_with(allowed))
            {
                broken.push(format!("{name}:{number}: {}", line.trim()));
            }
        }
    }
    eprintln!("{count} uses of `unsafe` in {PRODUCT:?} (unit tests not counted)");
    fail_with(
        broken,
        "`unsafe` outside the modules ARCHITECTURE.md allows it in; move the operation into \
         `shm` behind a safe function:",
    );
}

/// The modules of `src/`, lowest layer first, as ARCHITECTURE.md's code map lists them: a
/// `### `name`` heading per top-level module, a `#### `name::part`` heading per part of a module
/// whose parts are layered too.
fn documented_layers() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let map = text
        .split("\n## Code map")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Code map` section");
    let map = map.split("\n## ").next().unwrap();
    map.lines()
        .filter_map(|line| {
            line.strip_prefix("### `")
                .or_else(|| line.strip_prefix("#### `"))
        })
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| !name.contains('/') && *name != "ffi")
        .map(str::to_string)
        .collect()
}

/// The modules the file `path` (`src/a/b.rs`, `src/a/mod.rs`, `src/lib.rs`) declares.
fn declared_modules(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line
                .strip_prefix("pub ")
                .or(line.strip_prefix("pub(crate) "))
                .unwrap_or(line);
            line.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .filter(|name| name != "tests")
        .collect()
}

/// The module path of a file below `src/` (`src/a/b/mod.rs` and `src/a/b.rs` are `a::b`).
fn module_path(name: &str) -> Vec<String> {
    let rest = name.strip_prefix("src/").unwrap_or(name);
    let rest = rest.strip_suffix(".rs").unwrap_or(rest);
    let rest = rest.strip_suffix("/mod").unwrap_or(rest);
    rest.split('/').map(str::to_string).collect()
}

#[test]
fn the_code_map_names_every_module_and_modules_only_use_lower_layers() {
    let _turn = common::beside_others();
    let layers = documented_layers();
    let mut declared = declared_modules("src/lib.rs");
    declared.sort();
    let mut documented: Vec<String> = layers
        .iter()
        .filter(|layer| !layer.contains("::"))
        .cloned()
        .collect();
    documented.sort();
    assert_eq!(
        declared, documented,
        "src/lib.rs declares these modules, ARCHITECTURE.md's code map lists those: \
         give every module a `### `name`` section in layer order"
    );
    for parent in &documented {
        let mut parts: Vec<String> = layers
            .iter()
            .filter_map(|layer| layer.strip_prefix(&format!("{parent}::")))
            .map(str::to_string)
            .collect();
        if parts.is_empty() {
            continue;
        }
        parts.sort();
        let mut declared = declared_modules(&format!("src/{parent}/mod.rs"));
        declared.sort();
        assert_eq!(
            declared, parts,
            "src/{parent}/mod.rs declares these modules, ARCHITECTURE.md's code map lists \
             those: give every part a `#### `{parent}::part`` section in layer order"
        );
    }
    // The most specific layer a module path belongs to.
    let rank = |path: &[String]| {
        (1..=path.len()).rev().find_map(|length| {
            let name = path[..length].join("::");
            layers.iter().position(|layer| *layer == name)
        })
    };
    let mut broken = Vec::new();
    for path in rust_files("src") {
        let name = relative(&path);
        if is_unit_test_file(&name) {
            continue;
        }
        let own_path = module_path(&name);
        let Some(own) = rank(&own_path) else {
            continue;
        };
        let lines = code_lines(&path);
        let code: String = lines.iter().map(|(_, line)| format!("{line}\n")).collect();
        for (offset, used) in named_paths(&code, &own_path) {
            if let Some(other) = rank(&used)
                && other > own
            {
                let index = code[..offset].matches('\n').count();
                broken.push(format!(
                    "{name}:{}: `{}` uses `{}`, a higher layer",
                    lines[index].0,
                    own_path.join("::"),
                    used.join("::")
                ));
            }
        }
    }
    fail_with(
        broken,
        "a module uses one listed after it in ARCHITECTURE.md's code map (modules only use \
         lower layers); move the code down or fix the order if the map is wrong:",
    );
}

/// The module paths that `code`, in the module `own`, names through `crate::` or `super::`
/// (`crate::a::b`, `super::{a, b::{c, d}}`, across lines), from the crate root, each with the
/// offset where it starts.
fn named_paths(code: &str, own: &[String]) -> Vec<(usize, Vec<String>)> {
    let mut named = Vec::new();
    for root in ["crate", "super"] {
        let token = format!("{root}::");
        for (at, _) in code.match_indices(&token) {
            // `super::super::x` is read from its first `super`; `my_crate::` is another crate.
            if code[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let mut paths = Vec::new();
            use_tree(&code[at + token.len()..], Vec::new(), &mut paths);
            for path in paths {
                let mut base: Vec<String> = match root {
                    "crate" => Vec::new(),
                    _ => own[..own.len().saturating_sub(1)].to_vec(),
                };
                let mut rest = path.as_slice();
                while let [first, more @ ..] = rest
                    && first == "super"
                {
                    base.pop();
                    rest = more;
                }
                base.extend(rest.iter().cloned());
                named.push((at, base));
            }
        }
    }
    named.sort_by_key(|(at, _)| *at);
    named
}

/// Reads the use tree at the start of `text` (`a::b`, `a::{b, c::d}`), each path after `prefix`,
/// into `paths`.
fn use_tree(text: &str, prefix: Vec<String>, paths: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            for item in group_items(group) {
                use_tree(item, path.clone(), paths);
            }
            return;
        }
        let name = identifier(rest);
        if name.is_empty() {
            break;
        }
        rest = &rest[name.len()..];
        path.push(name);
        match rest.strip_prefix("::") {
            Some(more) => rest = more,
            None => break,
        }
    }
    if !path.is_empty() {
        paths.push(path);
    }
}

/// The items of a `{ .. }` group at its own level, given the text after its `{`.
fn group_items(group: &str) -> Vec<&str> {
    let (mut depth, mut item_start) = (0usize, 0usize);
    let mut items = Vec::new();
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[item_start..index]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[item_start..index]);
                item_start = index + 1;
            }
            _ => {}
        }
    }
    items
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn crate_names_are_whole_path_segments() {
    assert!(names_crate("let x = libc::ESRCH;", "libc"));
    assert!(names_crate("use nix::poll;", "nix"));
    assert!(!names_crate("use std::os::unix::net::UnixStream;", "nix"));
    assert!(!names_crate("my_libc::call()", "libc"));
}

#[test]
fn module_paths_are_read_through_groups_lines_and_super() {
    let code = "use crate::shm::Segment;\nuse crate::{\n    ring::{self, Producer},\n    wire,\n};\n\
                use super::framing::{RingWriter, WriteOutcome};\nuse super::super::cache;\n";
    let own = ["exchange".to_string(), "serving".to_string()];
    let names: Vec<String> = named_paths(code, &own)
        .into_iter()
        .map(|(_, path)| path.join("::"))
        .collect();
    assert_eq!(
        names,
        [
            "shm::Segment",
            "ring::self",
            "ring::Producer",
            "wire",
            "exchange::framing::RingWriter",
            "exchange::framing::WriteOutcome",
            "cache",
        ]
    );
    assert_eq!(
        module_path("src/exchange/framing/mod.rs"),
        ["exchange", "framing"]
    );
    assert_eq!(
        module_path("src/exchange/calling.rs"),
        ["exchange", "calling"]
    );
}
