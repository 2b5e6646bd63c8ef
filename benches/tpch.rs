//! Criterion benchmark of TPC-H queries per execution mode at a small scale factor.
//!
//! Each mode runs the same queries over the same data in one run, so their times compare; the
//! in-process mode is the baseline. `dfshm-bench tpch` is the full 22-query comparison.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dfshm::{Engine, StatementOutcome, tpch};
use std::path::PathBuf;
use std::time::Duration;

const SCALE_FACTOR: f64 = 0.1;
const QUERIES: [usize; 5] = [1, 3, 6, 9, 18];

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfshm-bench-tpch-sf{SCALE_FACTOR}"));
    tpch::generate(SCALE_FACTOR, &dir, &|_| {}).expect("generate TPC-H data");
    dir
}

async fn run_query(engine: &Engine, sql: &str) -> usize {
    let mut rows = 0;
    for statement in engine.statements(sql).expect("split") {
        if let StatementOutcome::Rows(frame) = engine.run_statement(&statement).await.expect("plan")
        {
            rows = frame
                .collect()
                .await
                .expect("run")
                .iter()
                .map(|b| b.num_rows())
                .sum();
        }
    }
    rows
}

fn tpch_queries(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let data = data_dir();
    let mut group = c.benchmark_group(format!("tpch_sf{SCALE_FACTOR}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (mode, workers) in [("in-process", 0usize)] {
        let engine = Engine::builder().workers(workers).build().expect("engine");
        runtime
            .block_on(tpch::register_tables(&engine, &data))
            .expect("register tables");
        for query in QUERIES {
            let sql = tpch::query(query).expect("query");
            group.bench_with_input(
                BenchmarkId::new(mode, format!("q{query}")),
                sql,
                |b, sql| b.iter(|| runtime.block_on(run_query(&engine, sql))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, tpch_queries);
criterion_main!(benches);
