//! TPC-H: the 22 standard queries, a Parquet data generator (tpchgen) and table registration.
//!
//! Generation is idempotent and crash-safe: files are written into a temporary folder beside the
//! target, moved into place table by table, and a manifest naming the scale factor is written
//! last. A folder with a matching manifest is reused as it is. This module never deletes a folder
//! it did not create.

use crate::engine::Engine;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

/// The eight TPC-H tables, smallest first.
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

/// The number of TPC-H queries.
pub const QUERY_COUNT: usize = 22;

const QUERIES: [&str; QUERY_COUNT] = [
    include_str!("../testdata/tpch/queries/q1.sql"),
    include_str!("../testdata/tpch/queries/q2.sql"),
    include_str!("../testdata/tpch/queries/q3.sql"),
    include_str!("../testdata/tpch/queries/q4.sql"),
    include_str!("../testdata/tpch/queries/q5.sql"),
    include_str!("../testdata/tpch/queries/q6.sql"),
    include_str!("../testdata/tpch/queries/q7.sql"),
    include_str!("../testdata/tpch/queries/q8.sql"),
    include_str!("../testdata/tpch/queries/q9.sql"),
    include_str!("../testdata/tpch/queries/q10.sql"),
    include_str!("../testdata/tpch/queries/q11.sql"),
    include_str!("../testdata/tpch/queries/q12.sql"),
    include_str!("../testdata/tpch/queries/q13.sql"),
    include_str!("../testdata/tpch/queries/q14.sql"),
    include_str!("../testdata/tpch/queries/q15.sql"),
    include_str!("../testdata/tpch/queries/q16.sql"),
    include_str!("../testdata/tpch/queries/q17.sql"),
    include_str!("../testdata/tpch/queries/q18.sql"),
    include_str!("../testdata/tpch/queries/q19.sql"),
    include_str!("../testdata/tpch/queries/q20.sql"),
    include_str!("../testdata/tpch/queries/q21.sql"),
    include_str!("../testdata/tpch/queries/q22.sql"),
];

/// The SQL text of TPC-H query `number` (1 to 22); q15 holds three statements (a view).
pub fn query(number: usize) -> Option<&'static str> {
    QUERIES.get(number.checked_sub(1)?).copied()
}

/// q18 with its final aggregation edited (the same joins, other aggregates): what the result
/// cache's stage-level reuse is tested and benchmarked with.
pub const Q18_EDITED: &str = "select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, \
    avg(l_quantity) as avg_qty, count(*) as lines \
    from customer, orders, lineitem \
    where o_orderkey in (select l_orderkey from lineitem group by l_orderkey \
                         having sum(l_quantity) > 300) \
      and c_custkey = o_custkey and o_orderkey = l_orderkey \
    group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice \
    order by o_totalprice desc, o_orderdate limit 100";

/// Name of the manifest that marks a completely generated data folder.
pub const MANIFEST_FILE: &str = "_dfshm_tpch.json";

/// Rows per Parquet row group: small enough that a scan splits into several partitions.
const ROW_GROUP_ROWS: usize = 256 * 1024;
/// Rows per generated file before a table is split into several files.
const FILE_ROWS: u64 = 1_500_000;

/// Why TPC-H data could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum TpchGenerateError {
    /// The scale factor is not a positive finite number.
    #[error("scale factor must be a positive number (got {0})")]
    BadScaleFactor(f64),
    /// The folder already holds table folders that dfshm did not write.
    #[error(
        "{} already holds a `{table}` folder but no {MANIFEST_FILE}; remove it or choose another output folder",
        dir.display()
    )]
    ForeignData {
        /// The output folder.
        dir: PathBuf,
        /// The table folder found there.
        table: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// Encoding a table failed.
    #[error("writing {}: {source}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// What the Parquet writer said.
        source: datafusion::parquet::errors::ParquetError,
    },
    /// The generator failed.
    #[error("generating {table}: {source}")]
    Arrow {
        /// The table being generated.
        table: &'static str,
        /// What the generator said.
        source: ArrowError,
    },
}

/// The content of [`MANIFEST_FILE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TpchManifest {
    /// The scale factor the data was generated at.
    pub scale_factor: f64,
    /// Rows per table, in [`TABLES`] order.
    pub rows: Vec<u64>,
    /// Which generator wrote the data.
    pub generator: String,
}

/// What [`generate`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateReport {
    /// The manifest of the data now in the folder.
    pub manifest: TpchManifest,
    /// False when the folder already held data of this scale factor and nothing was written.
    pub generated: bool,
}

/// Approximate total rows at `scale_factor`, for progress reporting.
pub fn estimated_rows(scale_factor: f64) -> u64 {
    TABLES
        .iter()
        .map(|table| table_rows_estimate(table, scale_factor))
        .sum()
}

fn table_rows_estimate(table: &str, scale_factor: f64) -> u64 {
    let rows = |n: i64| n.max(0) as u64;
    match table {
        "region" => 5,
        "nation" => 25,
        "supplier" => rows(SupplierGenerator::calculate_row_count(scale_factor, 1, 1)),
        "customer" => rows(CustomerGenerator::calculate_row_count(scale_factor, 1, 1)),
        "part" => rows(PartGenerator::calculate_row_count(scale_factor, 1, 1)),
        "partsupp" => rows(PartSuppGenerator::calculate_row_count(scale_factor, 1, 1)),
        "orders" => rows(OrderGenerator::calculate_row_count(scale_factor, 1, 1)),
        // Each order has 1 to 7 lines, 4 on average.
        _ => rows(OrderGenerator::calculate_row_count(scale_factor, 1, 1)) * 4,
    }
}

/// Reads the manifest of `dir`, if it has a valid one.
pub fn read_manifest(dir: &Path) -> Option<TpchManifest> {
    let bytes = std::fs::read(dir.join(MANIFEST_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes the 8 TPC-H tables at `scale_factor` as Parquet into `dir/<table>/part-N.parquet`.
///
/// Returns at once when `dir` already holds data of this scale factor. `progress` is called with
/// the number of rows written since its last call, from several threads.
pub fn generate(
    scale_factor: f64,
    dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<GenerateReport, TpchGenerateError> {
    if !(scale_factor.is_finite() && scale_factor > 0.0) {
        return Err(TpchGenerateError::BadScaleFactor(scale_factor));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TpchGenerateError::Io { path, source }
    };
    if let Some(manifest) = read_manifest(dir)
        && manifest.scale_factor == scale_factor
        && TABLES.iter().all(|table| dir.join(table).is_dir())
    {
        return Ok(GenerateReport {
            manifest,
            generated: false,
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ours = read_manifest(dir).is_some();
    for table in TABLES {
        if !ours && dir.join(table).exists() {
            return Err(TpchGenerateError::ForeignData {
                dir: dir.to_path_buf(),
                table,
            });
        }
    }
    remove_stale_temporaries(dir);
    let staging = dir.join(format!(".dfshm-tmp-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let result = write_tables(scale_factor, &staging, progress);
    let rows = match result {
        Ok(rows) => rows,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    // The old manifest goes first: a crash from here on leaves a folder that is regenerated.
    let manifest_path = dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
    }
    for table in TABLES {
        let target = dir.join(table);
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(io(&target))?;
        }
        std::fs::rename(staging.join(table), &target).map_err(io(&target))?;
    }
    std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    let manifest = TpchManifest {
        scale_factor,
        rows,
        generator: "tpchgen 4".to_string(),
    };
    let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    std::fs::write(&temporary, json).map_err(io(&temporary))?;
    std::fs::rename(&temporary, &manifest_path).map_err(io(&manifest_path))?;
    Ok(GenerateReport {
        manifest,
        generated: true,
    })
}

/// Removes staging folders left by generators that died (their process no longer exists).
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(".dfshm-tmp-"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// One file to write: `part` of `parts` of `table`.
#[derive(Debug, Clone, Copy)]
struct Job {
    table: usize,
    part: i32,
    parts: i32,
}

fn write_tables(
    scale_factor: f64,
    staging: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<Vec<u64>, TpchGenerateError> {
    let mut jobs = Vec::new();
    for (table_index, table) in TABLES.iter().enumerate() {
        let table_dir = staging.join(table);
        std::fs::create_dir_all(&table_dir).map_err(|source| TpchGenerateError::Io {
            path: table_dir.clone(),
            source,
        })?;
        let parts = table_rows_estimate(table, scale_factor)
            .div_ceil(FILE_ROWS)
            .max(1);
        let parts = i32::try_from(parts).unwrap_or(i32::MAX);
        // Largest tables first so the slowest jobs start early.
        for part in 1..=parts {
            jobs.push(Job {
                table: table_index,
                part,
                parts,
            });
        }
    }
    jobs.reverse();
    let next = AtomicUsize::new(0);
    let rows = Mutex::new(vec![0u64; TABLES.len()]);
    let first_error = Mutex::new(None);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&job) = jobs.get(index) else { break };
                    if first_error.lock().expect("not poisoned").is_some() {
                        break;
                    }
                    match write_part(scale_factor, staging, job, progress) {
                        Ok(written) => rows.lock().expect("not poisoned")[job.table] += written,
                        Err(error) => {
                            first_error
                                .lock()
                                .expect("not poisoned")
                                .get_or_insert(error);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = first_error.into_inner().expect("not poisoned") {
        return Err(error);
    }
    Ok(rows.into_inner().expect("not poisoned"))
}

type BatchIter = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

fn table_batches(table: &str, sf: f64, part: i32, parts: i32) -> (SchemaRef, BatchIter) {
    match table {
        "region" => (
            RegionArrow::schema_ref(),
            Box::new(RegionArrow::new(RegionGenerator::new(sf, part, parts))),
        ),
        "nation" => (
            NationArrow::schema_ref(),
            Box::new(NationArrow::new(NationGenerator::new(sf, part, parts))),
        ),
        "supplier" => (
            SupplierArrow::schema_ref(),
            Box::new(SupplierArrow::new(SupplierGenerator::new(sf, part, parts))),
        ),
        "customer" => (
            CustomerArrow::schema_ref(),
            Box::new(CustomerArrow::new(CustomerGenerator::new(sf, part, parts))),
        ),
        "part" => (
            PartArrow::schema_ref(),
            Box::new(PartArrow::new(PartGenerator::new(sf, part, parts))),
        ),
        "partsupp" => (
            PartSuppArrow::schema_ref(),
            Box::new(PartSuppArrow::new(PartSuppGenerator::new(sf, part, parts))),
        ),
        "orders" => (
            OrderArrow::schema_ref(),
            Box::new(OrderArrow::new(OrderGenerator::new(sf, part, parts))),
        ),
        _ => (
            LineItemArrow::schema_ref(),
            Box::new(LineItemArrow::new(LineItemGenerator::new(sf, part, parts))),
        ),
    }
}

fn write_part(
    scale_factor: f64,
    staging: &Path,
    job: Job,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<u64, TpchGenerateError> {
    let table = TABLES[job.table];
    let path = staging
        .join(table)
        .join(format!("part-{}.parquet", job.part));
    let (schema, batches) = table_batches(table, scale_factor, job.part, job.parts);
    let file = std::fs::File::create(&path).map_err(|source| TpchGenerateError::Io {
        path: path.clone(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let parquet = |source| TpchGenerateError::Parquet {
        path: path.clone(),
        source,
    };
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(parquet)?;
    let mut written = 0u64;
    for batch in batches {
        let batch = batch.map_err(|source| TpchGenerateError::Arrow { table, source })?;
        writer.write(&batch).map_err(parquet)?;
        written += batch.num_rows() as u64;
        progress(batch.num_rows() as u64);
    }
    writer.close().map_err(parquet)?;
    Ok(written)
}

/// A folder of TPC-H data that lacks tables.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} has no TPC-H table {}: each table is a `<table>.parquet` file (as tpchgen-cli writes) or \
     a `<table>/` folder of Parquet files (as `dfshm-bench gen` and DataFusion's benchmarks \
     write)",
    dir.display(),
    missing.join(", ")
)]
pub struct MissingTables {
    /// The folder.
    pub dir: PathBuf,
    /// The tables it lacks, in [`TABLES`]'s order.
    pub missing: Vec<&'static str>,
}

/// Where each of the 8 tables is in `dir`, in [`TABLES`]'s order: a `<table>/` folder holding
/// Parquet files (as [`generate`] writes), or a `<table>.parquet` file (tpchgen-cli's layout).
pub fn find_tables(dir: &Path) -> std::result::Result<Vec<(&'static str, PathBuf)>, MissingTables> {
    let holds_parquet = |folder: &Path| {
        std::fs::read_dir(folder).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|entry| entry.path().extension().is_some_and(|ext| ext == "parquet"))
        })
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for table in TABLES {
        let folder = dir.join(table);
        let file = dir.join(format!("{table}.parquet"));
        if holds_parquet(&folder) {
            found.push((table, folder));
        } else if file.is_file() {
            found.push((table, file));
        } else {
            missing.push(table);
        }
    }
    match missing.is_empty() {
        true => Ok(found),
        false => Err(MissingTables {
            dir: dir.to_path_buf(),
            missing,
        }),
    }
}

/// Registers the 8 tables found in `dir` (see [`find_tables`] for the layouts) on `engine`.
pub async fn register_tables(engine: &Engine, dir: &Path) -> Result<()> {
    let tables = find_tables(dir).map_err(|error| DataFusionError::Plan(error.to_string()))?;
    for (table, path) in tables {
        engine.register_parquet(table, path).await?;
    }
    Ok(())
}
