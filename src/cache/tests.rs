//! Tests of the result cache against real queries on one engine (the cross-process cases are in
//! `tests/integration/result_cache.rs`).

use super::*;
use crate::{CancelToken, Engine};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::pretty::pretty_format_batches;
use futures::StreamExt;
use proptest::prelude::*;

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    cache: PathBuf,
}

/// A folder `t/` of two CSV files and an empty cache folder.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.csv"), "k,v\n1,10\n2,20\n1,30\n").unwrap();
    std::fs::write(data.join("b.csv"), "k,v\n3,5\n2,7\n").unwrap();
    let cache = dir.path().join("cache");
    Fixture {
        data,
        cache,
        _dir: dir,
    }
}

async fn engine(fixture: &Fixture, cap: u64) -> Engine {
    let engine = Engine::builder()
        .target_partitions(2)
        .cache_dir(&fixture.cache)
        .cache_max_bytes(cap)
        .build()
        .unwrap();
    engine.register_csv("t", &fixture.data).await.unwrap();
    engine
}

/// Runs `sql`; returns the pretty-printed rows (sorted) and what the cache did.
async fn run(engine: &Engine, sql: &str) -> (String, Vec<CacheEvent>) {
    let frame = engine.sql(sql).await.unwrap();
    let (stream, trace) = engine
        .execute_stream_traced(frame, &CancelToken::new())
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = stream.map(|batch| batch.unwrap()).collect().await;
    let text = pretty_format_batches(&batches).unwrap().to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    (lines.join("\n"), trace.events())
}

fn hit(events: &[CacheEvent]) -> bool {
    events
        .iter()
        .any(|event| matches!(event, CacheEvent::Hit { .. }))
}

fn bypassed(events: &[CacheEvent]) -> Option<String> {
    events.iter().find_map(|event| match event {
        CacheEvent::Bypassed(reason) => Some(reason.clone()),
        _ => None,
    })
}

fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|item| item.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "arrow"))
        .collect();
    files.sort();
    files
}

fn temp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|item| {
            item.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(entry::TEMP_SUFFIX)
        })
        .count()
}

const QUERY: &str = "select k, sum(v) as s from t group by k order by k";

#[tokio::test]
async fn a_repeat_is_served_from_the_cache_and_equals_the_cold_answer() {
    let fixture = fixture();
    let engine = engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    let (cold, events) = run(&engine, QUERY).await;
    assert!(!hit(&events), "{events:?}");
    assert!(cold.contains("| 1 | 40 |"), "{cold}");
    let (warm, events) = run(&engine, QUERY).await;
    assert!(hit(&events), "{events:?}");
    assert_eq!(cold, warm);
    // A different query is not served the first one's entry.
    let (other, events) = run(
        &engine,
        "select k, max(v) as s from t group by k order by k",
    )
    .await;
    assert!(!hit(&events), "{events:?}");
    assert_ne!(other, cold);
    // A second engine (as another process would) finds the entry too.
    let again = self::engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    let (warm, events) = run(&again, QUERY).await;
    assert!(hit(&events), "{events:?}");
    assert_eq!(cold, warm);
    let stats = engine.result_cache().unwrap().stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (2, 2), "{stats}");
    assert!(stats.entries >= 2 && stats.bytes > 0, "{stats}");
    assert_eq!(temp_files(&fixture.cache), 0);
}

#[tokio::test]
async fn changed_inputs_are_never_served_stale() {
    let fixture = fixture();
    let engine = engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    let (cold, _) = run(&engine, QUERY).await;
    // Rewrite a file in place with the same size, and put its mtime back.
    let file = fixture.data.join("b.csv");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, "k,v\n3,6\n2,7\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (rewritten, events) = run(&engine, QUERY).await;
    assert!(!hit(&events), "{events:?}");
    assert!(rewritten.contains("| 3 | 6  |"), "{rewritten}");
    assert_ne!(rewritten, cold);
    // A new file in the table's folder.
    std::fs::write(fixture.data.join("c.csv"), "k,v\n9,1\n").unwrap();
    let (grown, events) = run(&engine, QUERY).await;
    assert!(!hit(&events), "{events:?}");
    assert!(grown.contains("| 9 | 1  |"), "{grown}");
    let (again, events) = run(&engine, QUERY).await;
    assert!(hit(&events), "{events:?}");
    assert_eq!(again, grown);
}

#[tokio::test]
async fn volatile_functions_writes_and_explain_bypass_the_cache() {
    let fixture = fixture();
    let engine = engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    for sql in [
        "select k, random() as r from t",
        "select k, now() as at from t",
        "select k, uuid() as id from t",
        "explain select k from t",
        "with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) \
         select n from r",
    ] {
        for _ in 0..2 {
            let (_, events) = run(&engine, sql).await;
            assert!(!hit(&events), "{sql}: {events:?}");
            assert!(bypassed(&events).is_some(), "{sql}: {events:?}");
        }
    }
    // DDL runs while it is planned and returns no rows: nothing to cache.
    for ddl in engine
        .statements("create view w as select k from t; create table m as values (1), (2)")
        .unwrap()
    {
        let outcome = engine.run_statement(&ddl).await.unwrap();
        assert!(matches!(outcome, crate::StatementOutcome::Done));
    }
    // An in-memory table has no version: never cached.
    let (_, events) = run(&engine, "select * from m").await;
    let reason = bypassed(&events).unwrap();
    assert!(reason.contains("no version"), "{reason}");
    let (_, events) = run(&engine, "insert into m values (3)").await;
    assert!(bypassed(&events).is_some(), "{events:?}");
    assert!(
        entry_files(&fixture.cache).is_empty(),
        "{:?}",
        entry_files(&fixture.cache)
    );
    // The bypass is explicit: the recursive query's work table accumulates.
    let (_, events) = run(
        &engine,
        "with recursive r(n) as (select k from t union all select n + 1 from r where n < 5) \
         select n from r",
    )
    .await;
    let reason = bypassed(&events).unwrap();
    assert!(reason.contains("accumulates"), "{reason}");
}

#[tokio::test]
async fn a_result_read_only_in_part_is_never_stored() {
    let fixture = fixture();
    let engine = engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    let sql = "select * from generate_series(1, 1000000) as g(n)";
    let frame = engine.sql(sql).await.unwrap();
    let (mut stream, _) = engine
        .execute_stream_traced(frame, &CancelToken::new())
        .await
        .unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    assert!(entry_files(&fixture.cache).is_empty());
    assert_eq!(temp_files(&fixture.cache), 0);
    // An error mid-way stores nothing either.
    let (_, events) = run(&engine, "select 1").await;
    assert!(!hit(&events));
    let failing = engine
        .sql("select cast(case when n < 900000 then '1' else 'x' end as int) from generate_series(1, 1000000) as g(n)")
        .await
        .unwrap();
    let (stream, _) = engine
        .execute_stream_traced(failing, &CancelToken::new())
        .await
        .unwrap();
    let results: Vec<_> = stream.collect().await;
    assert!(results.iter().any(Result::is_err));
    assert_eq!(entry_files(&fixture.cache).len(), 1, "only `select 1`");
    assert_eq!(temp_files(&fixture.cache), 0);
}

#[tokio::test]
async fn corrupt_and_truncated_entries_are_dropped_and_recomputed() {
    let fixture = fixture();
    let engine = engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    let sql = "select k, v from t order by k, v";
    let (cold, _) = run(&engine, sql).await;
    let entries = entry_files(&fixture.cache);
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    let mut bytes = std::fs::read(entry).unwrap();
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x40;
    std::fs::write(entry, &bytes).unwrap();
    let (again, events) = run(&engine, sql).await;
    assert!(!hit(&events), "{events:?}");
    assert!(
        events
            .iter()
            .any(|event| matches!(event, CacheEvent::DroppedCorrupt { reason, .. } if reason.contains("checksum"))),
        "{events:?}"
    );
    assert_eq!(again, cold);
    let bytes = std::fs::read(entry).unwrap();
    std::fs::write(entry, &bytes[..bytes.len() - 10]).unwrap();
    let (again, events) = run(&engine, sql).await;
    assert!(
        events
            .iter()
            .any(|event| matches!(event, CacheEvent::DroppedCorrupt { .. })),
        "{events:?}"
    );
    assert_eq!(again, cold);
    let (again, events) = run(&engine, sql).await;
    assert!(hit(&events), "recomputed and stored again: {events:?}");
    assert_eq!(again, cold);
    let stats = engine.result_cache().unwrap().stats().unwrap();
    assert_eq!(stats.dropped_corrupt, 2, "{stats}");
}

#[tokio::test]
async fn an_edited_final_aggregation_reuses_its_input_stage() {
    let fixture = fixture();
    let engine = engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    let plain = Engine::builder().target_partitions(2).build().unwrap();
    plain.register_csv("t", &fixture.data).await.unwrap();
    let first = "select a.k, sum(a.v * b.v) as s from t a join t b on a.k = b.k group by a.k";
    let edited = "select a.k, count(*) as c, max(a.v + b.v) as m from t a join t b on a.k = b.k \
                  group by a.k having count(*) > 1";
    run(&engine, first).await;
    let (answer, events) = run(&engine, edited).await;
    assert!(!hit(&events), "{events:?}");
    assert!(
        events
            .iter()
            .any(|event| matches!(event, CacheEvent::SubplanReused { .. })),
        "{events:?}"
    );
    assert_eq!(answer, run(&plain, edited).await.0);
    // EXPLAIN ANALYZE says what was reused.
    let (analyzed, _) = run(&engine, &format!("explain analyze {edited} order by 1")).await;
    assert!(analyzed.contains("CachedScanExec: sub-plan"), "{analyzed}");
}

#[tokio::test]
async fn eviction_keeps_the_folder_under_its_cap_and_mapped_entries_readable() {
    let fixture = fixture();
    // Entries of these queries are about 11 KB (most of it the key: every setting is in it).
    let cap = 40_000;
    let engine = engine(&fixture, cap).await;
    let sql = "select n, n * 2 as m from generate_series(1, 200) as g(n)";
    run(&engine, sql).await;
    // Map the entry (a hit holds it), then push it out with other results.
    let frame = engine.sql(sql).await.unwrap();
    let (stream, trace) = engine
        .execute_stream_traced(frame, &CancelToken::new())
        .await
        .unwrap();
    assert!(trace.served_from_cache());
    for n in 0..6 {
        run(
            &engine,
            &format!("select n + {n} as x from generate_series(1, 200) as g(n)"),
        )
        .await;
    }
    let stats = engine.result_cache().unwrap().stats().unwrap();
    assert!(stats.evicted > 0, "{stats}");
    assert!(stats.bytes <= cap, "{stats}");
    let batches: Vec<RecordBatch> = stream.map(|batch| batch.unwrap()).collect().await;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 200);
    let (_, events) = run(&engine, sql).await;
    assert!(!hit(&events), "evicted: {events:?}");
}

#[tokio::test]
async fn served_batches_point_into_the_mapped_file() {
    let fixture = fixture();
    let engine = engine(&fixture, DEFAULT_CACHE_MAX_BYTES).await;
    let sql = "select n, cast(n as varchar) as s from generate_series(1, 5000) as g(n)";
    run(&engine, sql).await;
    let path = &entry_files(&fixture.cache)[0];
    let entries = entry::open(path, &[]).unwrap_err();
    assert!(matches!(entries, entry::EntryError::OtherKey));
    let file = std::fs::File::open(path).unwrap();
    let map = Arc::new(entry::Mmap::map(&file).unwrap());
    let buffer = map.clone().into_buffer();
    let (start, end) = (
        buffer.as_ptr() as usize,
        buffer.as_ptr() as usize + buffer.len(),
    );
    let decoded = entry::decode(buffer, None).unwrap();
    assert_eq!(decoded.rows, 5000);
    for batch in decoded.partitions.iter().flatten() {
        for column in batch.columns() {
            for data in column.to_data().buffers() {
                let at = data.as_ptr() as usize;
                assert!(at >= start && at < end, "a copied buffer");
                assert_eq!((at - start) % 8, 0);
            }
        }
    }
}

#[test]
fn clear_removes_entries_and_resets_counters() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fixture = fixture();
    let engine = runtime.block_on(engine(&fixture, DEFAULT_CACHE_MAX_BYTES));
    runtime.block_on(run(&engine, QUERY));
    runtime.block_on(run(&engine, QUERY));
    let cache = engine.result_cache().unwrap();
    let before = cache.clear().unwrap();
    assert!(before.entries > 0 && before.hits == 1, "{before}");
    let after = cache.stats().unwrap();
    assert_eq!(after, CacheStats::default());
    assert!(entry_files(&fixture.cache).is_empty());
}

#[test]
fn dead_writers_temporary_files_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    // pid 0x7fffffff is never alive; our own pid is.
    let dead = dir.path().join("abc.2147483647.00.tmp");
    let live = dir.path().join(format!(
        "abc.{}.00{}",
        std::process::id(),
        entry::TEMP_SUFFIX
    ));
    std::fs::write(&dead, b"partial").unwrap();
    std::fs::write(&live, b"partial").unwrap();
    let cache = ResultCache::open(dir.path(), 1 << 20).unwrap();
    assert!(!dead.exists());
    assert!(live.exists());
    assert_eq!(cache.stats().unwrap().entries, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The entry reader never panics and never accepts a changed entry (the fuzz target in
    /// `fuzz/` runs the same function on arbitrary input).
    #[test]
    fn the_entry_reader_rejects_every_mutation(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let bytes = sample_entry();
        let mut mutated = bytes.clone();
        // One mask per position, so that two flips never cancel out.
        let flips: std::collections::BTreeMap<usize, u8> =
            flips.into_iter().map(|(at, mask)| (at.index(bytes.len()), mask)).collect();
        for (at, mask) in flips {
            mutated[at] ^= mask;
        }
        if let Some(cut) = cut {
            mutated.truncate(cut.index(mutated.len()));
        }
        let result = entry::decode(datafusion::arrow::buffer::Buffer::from_vec(mutated), Some(b"key"));
        prop_assert!(result.is_err());
    }

    #[test]
    fn the_entry_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = entry::decode(datafusion::arrow::buffer::Buffer::from_vec(bytes), None);
    }
}

/// The bytes of a small two-partition entry with key `key`.
fn sample_entry() -> Vec<u8> {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let schema = Arc::new(Schema::new(vec![
                Field::new("n", DataType::Int64, false),
                Field::new("s", DataType::Utf8, true),
            ]));
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(vec![1, 2, 3])),
                    Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
                ],
            )
            .unwrap();
            let mut writer =
                entry::EntryWriter::create(dir.path().join("e.tmp"), &schema, 2).unwrap();
            writer.write(0, &batch).unwrap();
            writer.write(1, &batch.slice(1, 2)).unwrap();
            let path = dir.path().join("e.arrow");
            writer.commit(b"key", &path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let decoded = entry::decode(
                datafusion::arrow::buffer::Buffer::from_vec(bytes.clone()),
                Some(b"key"),
            )
            .unwrap();
            assert_eq!(decoded.rows, 5);
            assert_eq!(decoded.partitions[1][0].column(1).null_count(), 1);
            bytes
        })
        .clone()
}

/// A two-column batch of `rows` rows starting at `first`.
fn numbers(first: i64, rows: i64) -> RecordBatch {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let values: Vec<i64> = (first..first + rows).collect();
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap()
}

/// A task context of task `index` of `count`, as a worker sets it.
fn task_context(index: usize, count: usize) -> Arc<datafusion::execution::TaskContext> {
    let config = datafusion::prelude::SessionConfig::new().with_extension(Arc::new(
        datafusion_distributed::DistributedTaskContext {
            task_index: index,
            task_count: count,
        },
    ));
    Arc::new(datafusion::execution::TaskContext::default().with_session_config(config))
}

/// The rows of every partition of `plan` run as task `index` of `count`.
async fn collect_task(plan: &Arc<dyn ExecutionPlan>, index: usize, count: usize) -> Vec<i64> {
    use datafusion::arrow::array::Int64Array;
    let mut values = Vec::new();
    for partition in 0..plan.properties().partitioning.partition_count() {
        let mut stream = plan.execute(partition, task_context(index, count)).unwrap();
        while let Some(batch) = stream.next().await {
            let batch = batch.unwrap();
            let column = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            values.extend(column.values().iter().copied());
        }
    }
    values
}

/// `plan` sent through the cache's codec, as a worker receives it.
fn round_trip(
    plan: &Arc<dyn ExecutionPlan>,
    inputs: &[Arc<dyn ExecutionPlan>],
) -> Arc<dyn ExecutionPlan> {
    use datafusion_proto::physical_plan::{DefaultPhysicalProtoConverter, PhysicalExtensionCodec};
    let mut buf = Vec::new();
    CacheCodec
        .try_encode(plan.clone(), &mut buf, &DefaultPhysicalProtoConverter {})
        .unwrap();
    CacheCodec
        .try_decode(
            &buf,
            inputs,
            &datafusion::execution::TaskContext::default(),
            &DefaultPhysicalProtoConverter {},
        )
        .unwrap()
}

/// A leaf of two partitions holding `batches[p]` in partition `p`.
fn memory_plan(batches: Vec<RecordBatch>) -> Arc<dyn ExecutionPlan> {
    use datafusion::datasource::memory::MemorySourceConfig;
    let schema = batches[0].schema();
    let partitions: Vec<Vec<RecordBatch>> = batches.into_iter().map(|batch| vec![batch]).collect();
    MemorySourceConfig::try_new_exec(&partitions, schema, None).unwrap()
}

use datafusion::physical_plan::ExecutionPlan;

#[tokio::test]
async fn worker_tasks_record_their_own_parts_and_read_them_back_through_pins() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ResultCache::open(dir.path(), 1 << 30).unwrap());
    let key = b"stage key".to_vec();
    let name = key::entry_name(&key);
    // Task t's partitions hold the numbers 10t.. (two partitions of two rows each).
    let task_plan = |task: i64| memory_plan(vec![numbers(10 * task, 2), numbers(10 * task + 2, 2)]);

    // Each worker records its part of a stage run by two tasks.
    for task in 0..2 {
        let plan = task_plan(task as i64);
        let recording = ops::Recording::new(&cache, key.clone(), name.clone(), 2, &plan, u64::MAX);
        let planned = ops::CacheRecordExec::wrap(plan.clone(), recording, true);
        let on_worker = round_trip(&planned, &[plan]);
        assert_eq!(on_worker.name(), "CacheRecordExec");
        let values = collect_task(&on_worker, task, 2).await;
        assert_eq!(
            values,
            (10 * task as i64..10 * task as i64 + 4).collect::<Vec<_>>()
        );
    }
    // A task of a stage planned with another task count records nothing.
    let plan = task_plan(5);
    let recording = ops::Recording::new(
        &cache,
        b"other".to_vec(),
        "x".repeat(64),
        2,
        &plan,
        u64::MAX,
    );
    collect_task(&ops::CacheRecordExec::wrap(plan, recording, true), 0, 3).await;
    assert_eq!(entry_files(dir.path()).len(), 2);

    // The coordinator finds both parts, pins them and sends the scan to the workers.
    let mut pins = Vec::new();
    let mut entries = Vec::new();
    for task in 0..2 {
        let part_key = ops::part_key(&key, task, 2);
        let part = key::entry_name(&part_key);
        let Lookup::Hit(entry) = cache.lookup(&part, &part_key) else {
            panic!("part {task} was not stored");
        };
        entries.push(entry);
        pins.push(cache.pin(&part).unwrap());
    }
    let shape = task_plan(0);
    let planned = ops::CachedScanExec::pinned(&shape, &key, name.clone(), pins, &entries);
    let on_worker = round_trip(&planned, &[]);
    // Eviction unlinks the entries; the pinned files still serve this query.
    cache.clear().unwrap();
    assert!(entry_files(dir.path()).is_empty());
    assert_eq!(collect_task(&on_worker, 1, 2).await, vec![10, 11, 12, 13]);
    assert_eq!(
        collect_task(&on_worker, 0, 2).await,
        vec![10, 11, 12, 13],
        "opened once per task"
    );
    let other_task = round_trip(&planned, &[]);
    assert_eq!(collect_task(&other_task, 0, 2).await, vec![0, 1, 2, 3]);
    // The pins go with the coordinator's plan.
    let pins_dir = dir.path().join(PINS);
    assert_eq!(std::fs::read_dir(&pins_dir).unwrap().count(), 2);
    drop(planned);
    assert_eq!(std::fs::read_dir(&pins_dir).unwrap().count(), 0);
}

#[test]
fn a_scan_mapped_by_the_coordinator_is_never_sent_to_a_worker() {
    use datafusion_proto::physical_plan::{DefaultPhysicalProtoConverter, PhysicalExtensionCodec};
    let bytes = sample_entry();
    let entry = Arc::new(
        entry::decode(
            datafusion::arrow::buffer::Buffer::from_vec(bytes),
            Some(b"key"),
        )
        .unwrap(),
    );
    let shape = memory_plan(
        entry
            .partitions
            .iter()
            .map(|batches| batches[0].clone())
            .collect(),
    );
    let mapped = ops::CachedScanExec::mapped(&shape, entry, "0".repeat(64));
    let error = CacheCodec
        .try_encode(mapped, &mut Vec::new(), &DefaultPhysicalProtoConverter {})
        .unwrap_err();
    assert!(
        error.to_string().contains("cannot be sent to a worker"),
        "{error}"
    );
}

#[test]
fn dead_coordinators_pins_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(PINS)).unwrap();
    let dead = dir
        .path()
        .join(PINS)
        .join(format!("abc.2147483647.0{PIN_SUFFIX}"));
    let live = dir
        .path()
        .join(PINS)
        .join(format!("abc.{}.0{PIN_SUFFIX}", std::process::id()));
    std::fs::write(&dead, b"entry").unwrap();
    std::fs::write(&live, b"entry").unwrap();
    ResultCache::open(dir.path(), 1 << 20).unwrap();
    assert!(!dead.exists());
    assert!(live.exists());
}
