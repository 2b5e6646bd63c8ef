//! `dfshm-bench cache`: what the result cache saves. For each TPC-H query, the cold run (which
//! also writes the entry) against the median repeat (served from the cache), in one process;
//! then stage-level reuse: q18 with its final aggregation edited, cold against after q18 ran.

use crate::progress::Progress;
use crate::{QueryList, cache_dir, generate, median_ms, parse_query_list};
use dfshm::datafusion::error::Result as DfResult;
use dfshm::{CancelToken, Engine, StatementOutcome, tpch};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// Arguments of `dfshm-bench cache`.
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// Scale factor; the data is generated into the cache folder on first use.
    #[arg(long, default_value_t = 1.0)]
    sf: f64,
    /// Worker processes (0: in-process DataFusion).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Queries to run, e.g. `1-22` or `1,3,18-20`.
    #[arg(long, default_value = "1-22", value_parser = parse_query_list)]
    queries: QueryList,
    /// Cold runs and repeats per query; the medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
}

pub async fn run(args: CacheArgs) -> Result<(), String> {
    let data = cache_dir(args.sf);
    generate(args.sf, &data)?;
    // A scratch cache folder of this run, removed at the end.
    let folder = std::env::temp_dir().join(format!("dfshm-bench-cache-{}", std::process::id()));
    let result = measure(&args, &data, &folder).await;
    let _ = std::fs::remove_dir_all(&folder);
    result
}

async fn measure(
    args: &CacheArgs,
    data: &std::path::Path,
    folder: &std::path::Path,
) -> Result<(), String> {
    let engine = Engine::builder()
        .workers(args.workers)
        .workers_from_this_executable()
        .cache_dir(folder)
        .cache_max_bytes(8 << 30)
        .build()
        .map_err(|error| error.to_string())?;
    tpch::register_tables(&engine, data)
        .await
        .map_err(|error| format!("registering tables from {}: {error}", data.display()))?;
    let cache = engine.result_cache().expect("the cache is on");
    let clear = || cache.clear().map(|_| ()).map_err(|error| error.to_string());
    println!(
        "TPC-H sf={} workers={} (median of {} cold runs and of {} repeats)",
        args.sf, args.workers, args.iterations, args.iterations
    );
    println!(
        "{:<6} {:>10} {:>10} {:>9} {:>9}",
        "query", "cold ms", "repeat ms", "speedup", "rows"
    );
    let runs = (args.queries.0.len() as u64 * 2 + 3) * args.iterations;
    let bar = Progress::new("cache", runs, "runs");
    let (mut cold_total, mut warm_total) = (0.0, 0.0);
    for &query in &args.queries.0 {
        bar.set_message(format!("q{query}"));
        let sql = tpch::query(query).expect("query numbers are validated");
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        let mut rows = 0;
        for _ in 0..args.iterations {
            clear()?;
            let (elapsed, count, served) = timed(&engine, sql).await.map_err(|e| e.to_string())?;
            if served {
                return Err(format!("q{query}: a cold run was served from the cache"));
            }
            cold.push(elapsed);
            rows = count;
            bar.inc(1);
            let (elapsed, count, served) = timed(&engine, sql).await.map_err(|e| e.to_string())?;
            if !served || count != rows {
                return Err(format!(
                    "q{query}: the repeat was not served from the cache ({count} rows, \
                     cold {rows})"
                ));
            }
            warm.push(elapsed);
            bar.inc(1);
        }
        let (cold, warm) = (median_ms(&mut cold), median_ms(&mut warm));
        cold_total += cold;
        warm_total += warm;
        bar.println(format!(
            "{:<6} {cold:>10.1} {warm:>10.3} {:>8.0}x {rows:>9}",
            format!("q{query}"),
            cold / warm
        ));
    }
    bar.println(format!(
        "{:<6} {cold_total:>10.1} {warm_total:>10.3} {:>8.0}x",
        "total",
        cold_total / warm_total
    ));
    // Stage-level reuse: the edited q18 alone, and after q18 stored its stages.
    let q18 = tpch::query(18).expect("q18 exists");
    let (mut alone, mut after) = (Vec::new(), Vec::new());
    bar.set_message("edited q18");
    for _ in 0..args.iterations {
        clear()?;
        alone.push(
            timed(&engine, tpch::Q18_EDITED)
                .await
                .map_err(|e| e.to_string())?
                .0,
        );
        clear()?;
        timed(&engine, q18).await.map_err(|e| e.to_string())?;
        let reused_before = cache.stats().map_err(|e| e.to_string())?.reused_subplans;
        after.push(
            timed(&engine, tpch::Q18_EDITED)
                .await
                .map_err(|e| e.to_string())?
                .0,
        );
        let reused = cache.stats().map_err(|e| e.to_string())?.reused_subplans - reused_before;
        if reused == 0 {
            return Err("the edited q18 reused no stage of q18".into());
        }
        bar.inc(3);
    }
    bar.finish();
    let (alone, after) = (median_ms(&mut alone), median_ms(&mut after));
    println!(
        "stage reuse: q18 with its final aggregation edited: {alone:.1} ms cold, {after:.1} ms \
         after q18 ({:.1}x faster)",
        alone / after
    );
    Ok(())
}

/// Runs every statement of `sql`; returns the time, the rows of the last query and whether it
/// was served from the result cache.
async fn timed(engine: &Engine, sql: &str) -> DfResult<(Duration, usize, bool)> {
    let started = Instant::now();
    let (mut rows, mut served) = (0, false);
    for statement in engine.statements(sql)? {
        if let StatementOutcome::Rows(frame) = engine.run_statement(&statement).await? {
            let (mut stream, trace) = engine
                .execute_stream_traced(frame, &CancelToken::new())
                .await?;
            rows = 0;
            while let Some(batch) = stream.next().await {
                rows += batch?.num_rows();
            }
            served = trace.served_from_cache();
        }
    }
    Ok((started.elapsed(), rows, served))
}
