//! `tpch`'s result files and `compare`: the medians, row counts and failures of each mode, with
//! what makes two files comparable later (the machine, the git commit, the settings), and the
//! per-query ratios of two such files.

use crate::suite::Timings;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Writes `results` as JSON to `path`, with the machine, the commit and `settings`.
pub(crate) fn write_json(
    path: &Path,
    results: &[(String, Timings)],
    settings: Value,
) -> Result<(), String> {
    /// Mode -> "qN" -> the value `field` holds for query N in that mode.
    fn per_query<T: serde::Serialize>(
        results: &[(String, Timings)],
        field: impl Fn(&Timings) -> &BTreeMap<usize, T>,
    ) -> Value {
        let modes = results.iter().map(|(name, timings)| {
            let queries = field(timings)
                .iter()
                .map(|(query, value)| (format!("q{query}"), json!(value)));
            (name.clone(), Value::Object(queries.collect()))
        });
        Value::Object(modes.collect())
    }
    let modes = per_query(results, |timings| &timings.median_ms);
    let rows = per_query(results, |timings| &timings.rows);
    let failed = per_query(results, |timings| &timings.failed);
    let document = json!({
        "modes": modes,
        "rows": rows,
        "failed": failed,
        "machine": machine(),
        "git": git(),
        "dfshm_version": dfshm::version(),
        "settings": settings,
    });
    let text = serde_json::to_string_pretty(&document).expect("JSON values serialize");
    std::fs::write(path, text + "\n").map_err(|error| format!("{}: {error}", path.display()))
}

/// Cores, memory and kernel of this machine (what is unknown is `null`).
fn machine() -> Value {
    let cores = std::thread::available_parallelism().map(|n| n.get()).ok();
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|text| text.trim().to_string());
    json!({
        "cores": cores,
        "memory_bytes": memory_bytes,
        "kernel": kernel,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// The commit of the checkout the benchmark runs in, and whether it had uncommitted changes
/// (`null` outside a git checkout).
fn git() -> Value {
    let run = |args: &[&str]| {
        let output = Command::new("git").args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => json!({
            "commit": commit,
            "dirty": run(&["status", "--porcelain"]).map(|status| !status.is_empty()),
        }),
        None => Value::Null,
    }
}

/// The per-mode medians of a result file: mode -> query -> milliseconds.
fn medians(path: &Path) -> Result<Map<String, Value>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|error| format!("{} is not JSON: {error}", path.display()))?;
    match document.get("modes") {
        Some(Value::Object(modes)) => Ok(modes.clone()),
        _ => Err(format!(
            "{} has no \"modes\" object; is it a `dfshm-bench tpch --json` file?",
            path.display()
        )),
    }
}

/// Prints, for every mode and query both files have, the two medians and their ratio (B / A),
/// then the totals over those queries.
pub(crate) fn compare(a: &Path, b: &Path) -> Result<(), String> {
    let (before, after) = (medians(a)?, medians(b)?);
    let modes: Vec<&String> = before
        .keys()
        .filter(|mode| after.contains_key(*mode))
        .collect();
    if modes.is_empty() {
        return Err(format!(
            "{} and {} have no mode in common ({:?} against {:?})",
            a.display(),
            b.display(),
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>()
        ));
    }
    println!(
        "{:<16} {:<6} {:>12} {:>12} {:>8}",
        "mode", "query", "A ms", "B ms", "B/A"
    );
    for mode in modes {
        let ms = |side: &Map<String, Value>, query: &str| side[mode].get(query)?.as_f64();
        let queries: BTreeSet<(usize, String)> = before[mode]
            .as_object()
            .into_iter()
            .flat_map(|queries| queries.keys())
            .filter(|query| ms(&after, query).is_some())
            .map(|query| (query[1..].parse().unwrap_or(usize::MAX), query.clone()))
            .collect();
        let (mut total_a, mut total_b) = (0.0, 0.0);
        for (_, query) in &queries {
            let (Some(x), Some(y)) = (ms(&before, query), ms(&after, query)) else {
                continue;
            };
            total_a += x;
            total_b += y;
            println!("{mode:<16} {query:<6} {x:>12.1} {y:>12.1} {:>7.2}x", y / x);
        }
        println!(
            "{mode:<16} {:<6} {total_a:>12.1} {total_b:>12.1} {:>7.2}x",
            "total",
            total_b / total_a
        );
    }
    Ok(())
}
