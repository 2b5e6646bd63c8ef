//! Cache keys: a canonical, versioned text encoding of a physical (sub-)plan, the versions of
//! every file it can read, the settings that shape results and the dfshm and DataFusion
//! versions. The full key bytes are stored in each entry and compared on a hit; the file name is
//! their BLAKE3 hash.
//!
//! DataFusion's `Hash` leaves table sources out and its protobuf encoding writes schema metadata
//! maps in random order, so neither is used. The encoding here walks the plan itself: for each
//! node its depth, name, verbose display (expressions, file groups with byte ranges, options),
//! partition count and schema, with every map written in sorted order.
//!
//! This module also decides what may be cached at all: the reuse property of each operator
//! ([`Reuse`]), and the volatility of a query's functions.

use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::memory::LazyMemoryExec;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::work_table::WorkTableExec;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use datafusion_distributed::{DistributedLeafExec, NetworkBoundaryExt};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bumped whenever the encoding below changes, so that old entries are never matched.
const KEY_FORMAT: &str = "dfshm result cache key v2";

/// Whether an operator's output may be stored and served again: an explicit property of every
/// operator, decided here in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reuse {
    /// A deterministic function of its inputs and of versioned files: cacheable.
    Reusable,
    /// Keeps state that accumulates across executions of one query (a recursive query's work
    /// table, a sink that appends): its output is never served from the cache.
    Accumulating(&'static str),
    /// Reads data without a version dfshm can know (an in-memory table, a stream, a remote
    /// store): never cached.
    Unversioned(String),
}

/// The reuse property of one operator (its inputs are judged separately).
pub fn reuse_property(plan: &dyn ExecutionPlan) -> Reuse {
    // datafusion-distributed's per-task copies of a leaf: as reusable as every copy.
    if let Some(leaf) = plan.downcast_ref::<DistributedLeafExec>() {
        return std::iter::once(leaf.original())
            .chain(leaf.variants())
            .map(|copy| reuse_property(copy.as_ref()))
            .find(|reuse| *reuse != Reuse::Reusable)
            .unwrap_or(Reuse::Reusable);
    }
    if plan.downcast_ref::<WorkTableExec>().is_some()
        || plan.downcast_ref::<RecursiveQueryExec>().is_some()
    {
        return Reuse::Accumulating("a recursive query's work table");
    }
    if plan.downcast_ref::<DataSinkExec>().is_some() {
        return Reuse::Accumulating("a write");
    }
    if let Some(source) = plan.downcast_ref::<DataSourceExec>() {
        let source: &dyn std::any::Any = source.data_source().as_ref();
        if let Some(files) = source.downcast_ref::<FileScanConfig>() {
            return if files.object_store_url.as_str() == "file:///" {
                Reuse::Reusable
            } else {
                Reuse::Unversioned(format!("files in {}", files.object_store_url.as_str()))
            };
        }
        if source.downcast_ref::<MemorySourceConfig>().is_some() {
            return Reuse::Unversioned("an in-memory table".into());
        }
        return Reuse::Unversioned("a data source without files".into());
    }
    // DataFusion's generators (`generate_series`, `range`) are pure functions of the arguments
    // their display shows; the empty and one-row leaves have no input at all.
    if plan.downcast_ref::<LazyMemoryExec>().is_some()
        || plan.downcast_ref::<EmptyExec>().is_some()
        || plan.downcast_ref::<PlaceholderRowExec>().is_some()
    {
        return Reuse::Reusable;
    }
    if plan.children().is_empty() {
        return Reuse::Unversioned(format!("the source {}", plan.name()));
    }
    Reuse::Reusable
}

/// Why a query is never cached, judged on its logical plan; `None` if it may be.
///
/// Call it on the plan before optimization too: the optimizer folds stable functions such as
/// `now()` into literals, which would make every run a new key instead of a bypass.
pub fn bypass_reason(plan: &LogicalPlan) -> Option<String> {
    match plan {
        LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Copy(_) => {
            return Some("it changes data or the catalog".into());
        }
        LogicalPlan::Explain(_) => return Some("EXPLAIN".into()),
        LogicalPlan::Statement(_) => return Some("a statement".into()),
        _ => {}
    }
    let mut reason = None;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|inner| {
                if let Expr::ScalarFunction(function) = inner
                    && function.func.signature().volatility != Volatility::Immutable
                {
                    reason = Some(format!("{}() is not a pure function", function.func.name()));
                    return Ok(TreeNodeRecursion::Stop);
                }
                if inner.is_volatile_node() {
                    reason = Some(format!("{inner} is volatile"));
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(if reason.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    reason
}

/// Settings that change how a query is observed, not what it computes: an EXPLAIN ANALYZE
/// collects task metrics where the query alone does not, and reuses what the query stored.
/// (DataFusion lists an extension's settings without its prefix: `distributed.collect_metrics`
/// is `collect_metrics` here.)
const NOT_IN_KEYS: &[&str] = &["collect_metrics", "distributed.collect_metrics"];

/// What every key of one query starts with: the format, the versions, the settings and fresh
/// listings of the query's tables.
pub(crate) fn query_prefix(plan: &LogicalPlan, session: &dyn Session) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    let _ = writeln!(out, "{KEY_FORMAT}");
    let _ = writeln!(
        out,
        "dfshm {} datafusion {}",
        crate::version(),
        datafusion::DATAFUSION_VERSION
    );
    out.push_str("[settings]\n");
    let mut settings: Vec<_> = session
        .config_options()
        .entries()
        .into_iter()
        .filter(|entry| !NOT_IN_KEYS.contains(&entry.key.as_str()))
        .map(|entry| (entry.key, entry.value.unwrap_or_default()))
        .collect();
    settings.sort();
    for (key, value) in settings {
        let _ = writeln!(out, "{key}={value:?}");
    }
    out.push_str("[tables]\n");
    let mut roots = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && let Some(listing) = provider.downcast_ref::<ListingTable>()
        {
            for url in listing.table_paths() {
                roots.push((scan.table_name.to_string(), url.clone()));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|error| error.to_string())?;
    roots.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    roots.dedup_by(|a, b| a.0 == b.0 && a.1.as_str() == b.1.as_str());
    for (table, url) in roots {
        if url.scheme() != "file" {
            return Err(format!("table {table} is not on the local file system"));
        }
        let root = url
            .get_url()
            .to_file_path()
            .map_err(|()| format!("table {table} has no local path"))?;
        // A path with a glob is listed from the folder the glob starts in.
        let root = if root.exists() {
            root
        } else {
            PathBuf::from("/").join(url.prefix().as_ref())
        };
        let _ = writeln!(out, "table {table} {}", url.as_str());
        let mut files = Vec::new();
        list_fresh(&root, &mut files)
            .map_err(|error| format!("cannot list {}: {error}", root.display()))?;
        files.sort();
        for file in files {
            out.push_str(&file_version(&file)?);
        }
    }
    Ok(out.into_bytes())
}

/// Every file under `path` (or `path` itself), read from the file system now.
fn list_fresh(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        list_fresh(&entry.path(), files)?;
    }
    Ok(())
}

/// One line naming a file and its version: size, modification and change times (ns), device
/// and inode. Rewriting a file changes its ctime even when its mtime is put back.
fn file_version(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .map_err(|error| format!("cannot read the version of {}: {error}", path.display()))?;
    Ok(format!(
        "{:?} size={} mtime={}.{:09} ctime={}.{:09} dev={} ino={}\n",
        path,
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.dev(),
        meta.ino()
    ))
}

/// Whether an operator of `plan` (or a task's copy of a distributed leaf) reads a dynamic filter:
/// a [`DynamicFilterPhysicalExpr`] among its expressions that it does not fill itself (a join or
/// a TopK holds the filter it fills; the operators it was pushed into read it).
pub(crate) fn reads_dynamic_filter(plan: &dyn ExecutionPlan) -> bool {
    if let Some(leaf) = plan.downcast_ref::<DistributedLeafExec>() {
        return std::iter::once(leaf.original())
            .chain(leaf.variants())
            .any(|copy| reads_dynamic_filter(copy.as_ref()));
    }
    let filled: Vec<u64> = plan
        .dynamic_expressions_produced()
        .iter()
        .filter_map(|expr| expr.expression_id())
        .collect();
    let read = |expr: &Arc<dyn PhysicalExpr>| {
        expr.downcast_ref::<DynamicFilterPhysicalExpr>()
            .is_some_and(|filter| {
                !filter
                    .expression_id()
                    .is_some_and(|id| filled.contains(&id))
            })
    };
    let mut reads = false;
    // The walk stops at the first dynamic filter read; the closures never fail.
    let _ = plan.apply_expressions(&mut |expr| {
        reads = expr.exists(|node| Ok(read(node)))?;
        Ok(match reads {
            true => TreeNodeRecursion::Stop,
            false => TreeNodeRecursion::Continue,
        })
    });
    reads
        || plan
            .children()
            .into_iter()
            .any(|child| reads_dynamic_filter(child.as_ref()))
}

/// The key bytes of the sub-plan `plan` for a query whose keys start with `prefix`, or why it
/// cannot be cached. Only a whole plan (`whole`) may hold dynamic filters: in a sub-plan one may
/// come from an operator above it and prune its output to what that one query needs.
pub(crate) fn plan_key(
    prefix: &[u8],
    plan: &Arc<dyn ExecutionPlan>,
    whole: bool,
) -> Result<Vec<u8>, Reuse> {
    let mut text = String::from("[plan]\n");
    let mut files = Vec::new();
    encode(plan, 0, &mut text, &mut files)?;
    if !whole && reads_dynamic_filter(plan.as_ref()) {
        return Err(Reuse::Unversioned("a dynamic filter".into()));
    }
    text.push_str("[files]\n");
    files.sort();
    files.dedup();
    for file in files {
        text.push_str(&file_version(&file).map_err(Reuse::Unversioned)?);
    }
    let mut key = prefix.to_vec();
    key.extend_from_slice(text.as_bytes());
    Ok(key)
}

/// A node's verbose display, through `DisplayAs`.
pub(crate) struct Verbose<'a>(pub(crate) &'a dyn ExecutionPlan);

impl std::fmt::Display for Verbose<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt_as(DisplayFormatType::Verbose, f)
    }
}

fn encode(
    plan: &Arc<dyn ExecutionPlan>,
    depth: usize,
    out: &mut String,
    files: &mut Vec<PathBuf>,
) -> Result<(), Reuse> {
    match reuse_property(plan.as_ref()) {
        Reuse::Reusable => {}
        other => return Err(other),
    }
    scanned_files(plan.as_ref(), files);
    let display = match plan.as_ref().as_network_boundary() {
        // A boundary's display starts with its stage's number, which depends on the rest of the
        // query, not on what the boundary reads: an edited query renumbers stages it still
        // shares. A boundary is its kind (the name), its partitions and its input's task count
        // (the rest of its display is its input stage's, keyed below it).
        Some(boundary) => format!("input_tasks={}", boundary.input_stage().task_count()),
        None => Verbose(plan.as_ref()).to_string(),
    };
    let _ = writeln!(
        out,
        "{depth} {} | {} | partitions={} | {}",
        plan.name(),
        display.replace('\n', "\\n"),
        plan.properties().output_partitioning().partition_count(),
        canonical_schema(&plan.schema())
    );
    for child in plan.children() {
        encode(child, depth + 1, out, files)?;
    }
    Ok(())
}

/// Adds the files `plan` scans (a file source, or each task's copy of one) to `files`.
fn scanned_files(plan: &dyn ExecutionPlan, files: &mut Vec<PathBuf>) {
    if let Some(leaf) = plan.downcast_ref::<DistributedLeafExec>() {
        for copy in std::iter::once(leaf.original()).chain(leaf.variants()) {
            scanned_files(copy.as_ref(), files);
        }
        return;
    }
    let Some(source) = plan.downcast_ref::<DataSourceExec>() else {
        return;
    };
    let source: &dyn std::any::Any = source.data_source().as_ref();
    if let Some(config) = source.downcast_ref::<FileScanConfig>() {
        for group in &config.file_groups {
            for file in group.iter() {
                files.push(PathBuf::from("/").join(file.object_meta.location.as_ref()));
            }
        }
    }
}

/// A schema as text with its metadata maps in sorted order.
fn canonical_schema(schema: &datafusion::arrow::datatypes::Schema) -> String {
    let sorted = |map: &std::collections::HashMap<String, String>| {
        format!("{:?}", map.iter().collect::<BTreeMap<_, _>>())
    };
    let mut out = String::new();
    for field in schema.fields() {
        let _ = write!(
            out,
            "{:?}:{:?}:{}:{};",
            field.name(),
            field.data_type(),
            field.is_nullable(),
            sorted(field.metadata())
        );
    }
    let _ = write!(out, "meta={}", sorted(schema.metadata()));
    out
}

/// The file name of the entry with `key`: its BLAKE3 hash in hex.
pub(crate) fn entry_name(key: &[u8]) -> String {
    blake3::hash(key).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn schema_metadata_is_written_in_sorted_order() {
        let mut left = std::collections::HashMap::new();
        let mut right = std::collections::HashMap::new();
        for i in 0..32 {
            left.insert(format!("k{i}"), format!("v{i}"));
        }
        for i in (0..32).rev() {
            right.insert(format!("k{i}"), format!("v{i}"));
        }
        let field = Field::new("a", DataType::Int32, true);
        let a = Schema::new_with_metadata(vec![field.clone()], left);
        let b = Schema::new_with_metadata(vec![field], right);
        assert_eq!(canonical_schema(&a), canonical_schema(&b));
        let c = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        assert_ne!(canonical_schema(&a), canonical_schema(&c));
    }

    #[test]
    fn a_rewrite_with_the_mtime_put_back_changes_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, "a\n1\n").unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let before = file_version(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "a\n2\n").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(mtime).unwrap();
        let after = file_version(&path).unwrap();
        assert_ne!(before, after, "ctime must tell the rewrite apart");
    }
}
