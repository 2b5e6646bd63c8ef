//! ADBC statements: SQL run on the engine, results as a stream read batch by batch (never
//! materialized), cancel from any thread, bulk ingest of host Arrow data as a table, and
//! positional parameters bound from host Arrow data.

use crate::errors::{self, from_datafusion, invalid_argument, invalid_state, not_implemented};
use crate::runtime::{self, SharedEngine};
use adbc_core::error::{Result, Status};
use adbc_core::options::{IngestMode, OptionStatement, OptionValue};
use adbc_core::{CancelHandle, Optionable, PartitionedResult};
use datafusion::arrow::array::{Array, RecordBatch, RecordBatchReader, UInt64Array};
use datafusion::arrow::compute::{BatchCoalescer, cast};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{DataFusionError, ParamValues, ScalarValue, TableReference};
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::datasource::MemTable;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::EmptyRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use dfshm::{CancelToken, Engine, PartitionedQuery, StatementOutcome, datafusion};
use futures::{StreamExt, TryStreamExt};
use parking_lot::Mutex;
use std::sync::{Arc, Weak};

/// The token of a statement's current execution, which a cancel fires. A fresh token is
/// installed by each execution, so a cancel never reaches a later one.
#[derive(Debug, Default)]
pub(crate) struct CancelSlot(Mutex<Option<CancelToken>>);

impl CancelSlot {
    fn start(&self) -> CancelToken {
        let token = CancelToken::new();
        *self.0.lock() = Some(token.clone());
        token
    }

    fn cancel(&self) {
        if let Some(token) = self.0.lock().as_ref() {
            token.cancel();
        }
    }
}

/// The cancel slots of a connection's statements, so that a connection cancel reaches them all.
pub(crate) type CancelRegistry = Arc<Mutex<Vec<Weak<CancelSlot>>>>;

/// Fires the slots it holds: one for a statement, every live one for a connection.
pub(crate) enum Canceller {
    Statement(Arc<CancelSlot>),
    Connection(CancelRegistry),
}

impl CancelHandle for Canceller {
    fn try_cancel(&self) -> Result<()> {
        match self {
            Canceller::Statement(slot) => slot.cancel(),
            Canceller::Connection(registry) => {
                for slot in registry.lock().iter().filter_map(Weak::upgrade) {
                    slot.cancel();
                }
            }
        }
        Ok(())
    }
}

/// Host data bound to a statement: ingest rows or parameter rows.
enum Bound {
    Batch(RecordBatch),
    Stream(Box<dyn RecordBatchReader + Send>),
}

/// The `adbc.ingest.*` options of a statement.
#[derive(Debug, Clone, Default)]
struct Ingest {
    table: Option<String>,
    catalog: Option<String>,
    db_schema: Option<String>,
    mode: Option<IngestMode>,
}

/// An ADBC statement on a dfshm engine.
pub struct DfshmStatement {
    engine: SharedEngine,
    sql: Option<String>,
    ingest: Ingest,
    bound: Option<Bound>,
    cancel: Arc<CancelSlot>,
    /// The query of the last `ExecutePartitions`, set up on the workers while its partitions
    /// may be read.
    partitioned: Option<PartitionedQuery>,
}

impl DfshmStatement {
    pub(crate) fn new(engine: SharedEngine, registry: &CancelRegistry) -> DfshmStatement {
        let cancel = Arc::new(CancelSlot::default());
        let mut slots = registry.lock();
        slots.retain(|slot| slot.strong_count() > 0);
        slots.push(Arc::downgrade(&cancel));
        DfshmStatement {
            engine,
            sql: None,
            ingest: Ingest::default(),
            bound: None,
            cancel,
            partitioned: None,
        }
    }

    /// Ends the query of the last `ExecutePartitions`, on the runtime its teardown uses (in the
    /// child of a fork, where it lives in the parent, it is only forgotten).
    fn end_partitions(&mut self) {
        let Some(query) = self.partitioned.take() else {
            return;
        };
        if !self.engine.in_owner_process() {
            std::mem::forget(query);
            return;
        }
        // Waits until the workers refuse the parts, so that a host's other process that reads
        // one after the release is told so (rather than racing the query's teardown).
        // Without a runtime the query is dropped with the future, and ends all the same.
        let _ = runtime::block_on(query.end());
    }

    /// A statement set up for bulk ingest runs only as an update (no output stream).
    fn refuse_if_ingesting(&self) -> Result<()> {
        if self.ingest.table.is_some() {
            return Err(invalid_state(
                "this statement is set up for bulk ingest (adbc.ingest.target_table): execute \
                 it with AdbcStatementExecuteQuery and a NULL output stream",
            ));
        }
        Ok(())
    }

    fn sql(&self) -> Result<&str> {
        self.sql.as_deref().ok_or_else(|| {
            invalid_state("no SQL to run: call AdbcStatementSetSqlQuery before executing")
        })
    }

    /// The bound rows, collected (a bound stream is read to its end).
    fn take_bound_rows(&mut self) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>> {
        match self.bound.take() {
            None => Ok(None),
            Some(Bound::Batch(batch)) => Ok(Some((batch.schema(), vec![batch]))),
            Some(Bound::Stream(reader)) => {
                let schema = reader.schema();
                let batches =
                    reader
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|error| {
                            errors::error(
                                Status::InvalidData,
                                format!("cannot read the bound stream: {error}"),
                                Some("22000"),
                            )
                        })?;
                Ok(Some((schema, batches)))
            }
        }
    }

    /// Bound parameter rows, one `$1, $2, ...` list per row.
    fn take_parameter_rows(&mut self) -> Result<Option<Vec<Vec<ScalarValue>>>> {
        let Some((_, batches)) = self.take_bound_rows()? else {
            return Ok(None);
        };
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let values = batch
                    .columns()
                    .iter()
                    .map(|column| ScalarValue::try_from_array(column, row))
                    .collect::<datafusion::error::Result<Vec<_>>>()
                    .map_err(from_datafusion)?;
                rows.push(values);
            }
        }
        Ok(Some(rows))
    }

    /// Runs the statement's SQL with `parameters`, streaming the last statement's rows.
    fn start(&self, parameters: Option<Vec<ScalarValue>>) -> Result<SendableRecordBatchStream> {
        self.start_with(parameters, self.cancel.start())
    }

    /// [`Self::start`] under the cancel token `running`.
    fn start_with(
        &self,
        parameters: Option<Vec<ScalarValue>>,
        running: CancelToken,
    ) -> Result<SendableRecordBatchStream> {
        let sql = self.sql()?.to_string();
        let engine = self.engine.get()?;
        let (run_engine, run_sql) = (engine.clone(), sql.clone());
        runtime::block_on(async move {
            let run = run_script(&run_engine, &run_sql, parameters, &running);
            tokio::select! {
                biased;
                () = running.cancelled() => Err(dfshm::Cancelled.into()),
                stream = run => stream,
            }
        })
        .and_then(|result| result)
        .map_err(|error| query_error(&engine, &sql, error))
    }

    /// The query run once per parameter row, its results one after the other (what ADBC asks of
    /// a query bound to several rows). The first row runs now, so that its errors and schema are
    /// known at once; each later row runs when the one before it has ended, under the same cancel
    /// token, and its batches are cast to the first row's schema (a host reads one schema).
    fn start_per_row(&self, rows: Vec<Vec<ScalarValue>>) -> Result<SendableRecordBatchStream> {
        let running = self.cancel.start();
        let mut rows = rows.into_iter();
        let first = self.start_with(rows.next(), running.clone())?;
        // The first row's plan may call a column non-nullable (a literal); a later row's NULL
        // must still fit.
        let schema = Arc::new(Schema::new_with_metadata(
            first
                .schema()
                .fields()
                .iter()
                .map(|field| field.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
            first.schema().metadata().clone(),
        ));
        let engine = self.engine.get()?;
        let sql = self.sql()?.to_string();
        let later = futures::stream::iter(rows)
            .then(move |values| {
                let (engine, sql, running) = (engine.clone(), sql.clone(), running.clone());
                async move { run_script(&engine, &sql, Some(values), &running).await }
            })
            .try_flatten();
        let cast_schema = schema.clone();
        let batches = first
            .chain(later)
            .and_then(move |batch| std::future::ready(cast_batch(batch, &cast_schema)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn execute_ingest(&mut self) -> Result<i64> {
        let table = self.ingest.table.clone().ok_or_else(|| {
            invalid_state("no target table: set adbc.ingest.target_table before ingesting")
        })?;
        let mode = self.ingest.mode.unwrap_or(IngestMode::Create);
        let Some((schema, batches)) = self.take_bound_rows()? else {
            return Err(invalid_state(
                "no data to ingest: bind it with AdbcStatementBind or AdbcStatementBindStream \
                 first",
            ));
        };
        let engine = self.engine.get()?;
        let reference = table_reference(
            &engine,
            self.ingest.catalog.as_deref(),
            self.ingest.db_schema.as_deref(),
            &table,
        );
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        runtime::block_on(ingest(&engine, reference, mode, schema, batches))
            .and_then(|result| result)
            .map_err(from_datafusion)??;
        Ok(i64::try_from(rows).unwrap_or(i64::MAX))
    }
}

/// `error`, which running or planning `sql` gave, as an ADBC error: `NOT_FOUND` when `sql` names
/// a table the catalog does not have (looked up, not read from the message), else by its cause.
fn query_error(engine: &Engine, sql: &str, error: DataFusionError) -> adbc_core::error::Error {
    if !matches!(error.find_root(), DataFusionError::Plan(_)) {
        return from_datafusion(error);
    }
    let missing = missing_tables(engine, sql);
    match missing.is_empty() {
        true => from_datafusion(error),
        false => errors::tables_not_found(error, &missing),
    }
}

/// The tables the statements of `sql` read or write that the session's catalog does not have
/// (common table expressions aside); empty if `sql` does not parse.
fn missing_tables(engine: &Engine, sql: &str) -> Vec<String> {
    let context = engine.session_context();
    let state = context.state();
    let dialect = state.config().options().sql_parser.dialect;
    let Ok(statements) = engine.statements(sql) else {
        return Vec::new();
    };
    let mut missing = Vec::new();
    for statement in statements {
        let Ok(parsed) = state.sql_to_statement(statement.text(), &dialect) else {
            continue;
        };
        for reference in state.resolve_table_references(&parsed).unwrap_or_default() {
            if !matches!(context.table_exist(reference.clone()), Ok(true)) {
                missing.push(reference.to_string());
            }
        }
    }
    missing.dedup();
    missing
}

/// The table `table` of `db_schema` in `catalog`, either of which may be left out (the
/// session's default schema is used when only the catalog is given).
pub(crate) fn table_reference(
    engine: &Engine,
    catalog: Option<&str>,
    db_schema: Option<&str>,
    table: &str,
) -> TableReference {
    match (catalog, db_schema) {
        (Some(catalog), Some(schema)) => TableReference::full(catalog, schema, table),
        (Some(catalog), None) => {
            let options = engine.session_context().copied_config();
            let schema = options.options().catalog.default_schema.clone();
            TableReference::full(catalog, schema, table)
        }
        (None, Some(schema)) => TableReference::partial(schema, table),
        (None, None) => TableReference::bare(table),
    }
}

/// Runs a `;`-separated script: every statement but the last to completion, the last as a
/// stream (empty for DDL). Parameters apply to a single statement only.
async fn run_script(
    engine: &Engine,
    sql: &str,
    parameters: Option<Vec<ScalarValue>>,
    token: &CancelToken,
) -> datafusion::error::Result<SendableRecordBatchStream> {
    let statements = engine.statements(sql)?;
    let Some((last, before)) = statements.split_last() else {
        return Err(DataFusionError::Plan(
            "the SQL text holds no statement; pass a query such as SELECT 1".into(),
        ));
    };
    if parameters.is_some() && !before.is_empty() {
        return Err(DataFusionError::Plan(
            "parameters can be bound to one statement only, and this SQL text holds several".into(),
        ));
    }
    for statement in before {
        if let StatementOutcome::Rows(frame) = engine.run_statement(statement).await? {
            let mut stream = engine.execute_stream(frame, token).await?;
            while let Some(batch) = stream.next().await {
                batch?;
            }
        }
    }
    match engine.run_statement(last).await? {
        StatementOutcome::Rows(frame) => {
            engine
                .execute_stream(with_parameters(frame, parameters)?, token)
                .await
        }
        StatementOutcome::Done => Ok(Box::pin(EmptyRecordBatchStream::new(Arc::new(
            Schema::empty(),
        )))),
    }
}

impl Drop for DfshmStatement {
    fn drop(&mut self) {
        // Releasing the statement ends its partitions' query: a later read is refused.
        self.end_partitions();
    }
}

/// Starts the one statement of `sql` with its result in parts on the workers.
async fn partition_query(
    engine: &Engine,
    sql: &str,
    parameters: Option<Vec<ScalarValue>>,
) -> datafusion::error::Result<PartitionedQuery> {
    let statements = engine.statements(sql)?;
    let [statement] = &statements[..] else {
        return Err(DataFusionError::Plan(format!(
            "partitioned results need one query, and this SQL text holds {} statements",
            statements.len()
        )));
    };
    let StatementOutcome::Rows(frame) = engine.run_statement(statement).await? else {
        return Err(DataFusionError::Plan(
            "this statement returns no rows to partition; run it with AdbcStatementExecuteQuery"
                .into(),
        ));
    };
    engine
        .execute_partitions(with_parameters(frame, parameters)?)
        .await
}

/// `AdbcConnectionReadPartition`: one part of a partitioned result, read on `engine`'s runtime
/// straight from the worker that computes it.
pub(crate) fn read_partition(
    engine: &SharedEngine,
    descriptor: &[u8],
) -> Result<Box<dyn RecordBatchReader + Send>> {
    let reader = engine.get()?;
    let descriptor = descriptor.to_vec();
    let stream = runtime::block_on(async move { reader.read_partition(&descriptor).await })
        .and_then(|result| result)
        .map_err(from_datafusion)?;
    Ok(Box::new(QueryReader::new(stream, engine.clone())))
}

/// `frame` with `parameters` (if any) substituted for its placeholders, each cast as
/// [`typed_parameters`] says.
fn with_parameters(
    frame: DataFrame,
    parameters: Option<Vec<ScalarValue>>,
) -> datafusion::error::Result<DataFrame> {
    match parameters {
        Some(values) => {
            let values = typed_parameters(&frame, values)?;
            frame.with_param_values(ParamValues::from(values))
        }
        None => Ok(frame),
    }
}

/// `values` cast to the types the plan infers for its placeholders (`$1`, `$2`, ...), where it
/// infers one. DataFusion substitutes a value of another type as it is, so a host string (Utf8)
/// bound into `INSERT INTO t VALUES ($1)` for a `TEXT` column (Utf8View) would reach the table as
/// Utf8, and every later scan of it would fail.
fn typed_parameters(
    frame: &DataFrame,
    values: Vec<ScalarValue>,
) -> datafusion::error::Result<Vec<ScalarValue>> {
    let types = frame.logical_plan().get_parameter_types()?;
    values
        .into_iter()
        .enumerate()
        .map(
            |(index, value)| match types.get(&format!("${}", index + 1)) {
                Some(Some(data_type)) if value.data_type() != *data_type => {
                    value.cast_to(data_type)
                }
                _ => Ok(value),
            },
        )
        .collect()
}

/// `batch` with `schema`, its columns cast where their types differ (a later parameter row's
/// result may type a column otherwise).
fn cast_batch(batch: RecordBatch, schema: &SchemaRef) -> datafusion::error::Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Registers or extends `reference` with `batches`, as `mode` says.
async fn ingest(
    engine: &Engine,
    reference: TableReference,
    mode: IngestMode,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> datafusion::error::Result<Result<()>> {
    let ctx = engine.session_context();
    let exists = ctx.table_exist(reference.clone())?;
    let append = match mode {
        IngestMode::Create if exists => {
            return Ok(Err(errors::error(
                Status::AlreadyExists,
                format!(
                    "table {reference} already exists; ingest with mode append, replace or \
                     create_append"
                ),
                Some("42P07"),
            )));
        }
        IngestMode::Append if !exists => {
            return Ok(Err(errors::error(
                Status::NotFound,
                format!("table {reference} does not exist; ingest with mode create first"),
                Some("42P01"),
            )));
        }
        IngestMode::Append | IngestMode::CreateAppend => exists,
        IngestMode::Replace => {
            ctx.deregister_table(reference.clone())?;
            false
        }
        IngestMode::Create => false,
    };
    if append {
        if !batches.is_empty() {
            ctx.read_batches(batches)?
                .write_table(
                    &reference.to_string(),
                    DataFrameWriteOptions::new().with_insert_operation(InsertOp::Append),
                )
                .await?;
        }
        return Ok(Ok(()));
    }
    // Spread the batches over the session's partitions, so that scans of the table run in
    // parallel.
    let partitions = engine.target_partitions().clamp(1, batches.len().max(1));
    let mut spread = vec![Vec::new(); partitions];
    for (i, batch) in batches.into_iter().enumerate() {
        spread[i % partitions].push(batch);
    }
    let table = MemTable::try_new(schema, spread)?;
    ctx.register_table(reference, Arc::new(table))?;
    Ok(Ok(()))
}

/// The rows a DML statement reports in its `count` column; `None` (unknown) for any other
/// result, DDL included.
fn affected_rows(schema: &Schema, batches: &[RecordBatch]) -> Option<i64> {
    let fields = schema.fields();
    if fields.len() != 1
        || fields[0].name() != "count"
        || fields[0].data_type() != &DataType::UInt64
    {
        return None;
    }
    let mut total: u64 = 0;
    for batch in batches {
        let counts = batch.column(0).as_any().downcast_ref::<UInt64Array>()?;
        total = total.saturating_add(counts.iter().flatten().sum::<u64>());
    }
    i64::try_from(total).ok()
}

impl Optionable for DfshmStatement {
    type Option = OptionStatement;

    fn set_option(&mut self, key: Self::Option, value: OptionValue) -> Result<()> {
        let text = || match &value {
            OptionValue::String(text) => Ok(text.clone()),
            _ => Err(invalid_argument(format!(
                "option {} takes a string value",
                key.as_ref()
            ))),
        };
        match &key {
            OptionStatement::TargetTable => self.ingest.table = Some(text()?),
            OptionStatement::TargetCatalog => self.ingest.catalog = Some(text()?),
            OptionStatement::TargetDbSchema => self.ingest.db_schema = Some(text()?),
            OptionStatement::IngestMode => {
                let mode = IngestMode::try_from(&value).map_err(|_| {
                    invalid_argument(format!(
                        "unknown ingest mode {value:?}; use adbc.ingest.mode.create, append, \
                         replace or create_append"
                    ))
                })?;
                self.ingest.mode = Some(mode);
            }
            OptionStatement::Temporary => match text()?.as_str() {
                "false" => {}
                "true" => {
                    return Err(not_implemented(
                        "temporary tables",
                        "ingested tables live as long as the database anyway",
                    ));
                }
                other => {
                    return Err(invalid_argument(format!(
                        "adbc.ingest.temporary must be true or false, not {other}"
                    )));
                }
            },
            _ => {
                return Err(not_implemented(
                    &format!("the statement option {}", key.as_ref()),
                    "dfshm statements take the adbc.ingest.* options only",
                ));
            }
        }
        Ok(())
    }

    fn get_option_string(&self, key: Self::Option) -> Result<String> {
        let value = match &key {
            OptionStatement::TargetTable => self.ingest.table.clone(),
            OptionStatement::TargetCatalog => self.ingest.catalog.clone(),
            OptionStatement::TargetDbSchema => self.ingest.db_schema.clone(),
            OptionStatement::IngestMode => self.ingest.mode.map(|mode| {
                let value: OptionValue = mode.into();
                match value {
                    OptionValue::String(text) => text,
                    other => format!("{other:?}"),
                }
            }),
            OptionStatement::Temporary => Some("false".into()),
            _ => None,
        };
        value.ok_or_else(|| option_not_set(key.as_ref()))
    }

    fn get_option_bytes(&self, key: Self::Option) -> Result<Vec<u8>> {
        Err(option_not_set(key.as_ref()))
    }

    fn get_option_int(&self, key: Self::Option) -> Result<i64> {
        Err(option_not_set(key.as_ref()))
    }

    fn get_option_double(&self, key: Self::Option) -> Result<f64> {
        Err(option_not_set(key.as_ref()))
    }
}

/// `NOT_FOUND` for an option that is not set or has no value of the asked type.
pub(crate) fn option_not_set(key: &str) -> adbc_core::error::Error {
    errors::error(
        Status::NotFound,
        format!("option {key} is not set or has no value of this type"),
        None,
    )
}

impl adbc_core::Statement for DfshmStatement {
    fn bind(&mut self, batch: RecordBatch) -> Result<()> {
        self.bound = Some(Bound::Batch(batch));
        Ok(())
    }

    fn bind_stream(&mut self, reader: Box<dyn RecordBatchReader + Send>) -> Result<()> {
        self.bound = Some(Bound::Stream(reader));
        Ok(())
    }

    fn execute(&mut self) -> Result<Box<dyn RecordBatchReader + Send>> {
        self.refuse_if_ingesting()?;
        let stream = match self.take_parameter_rows()? {
            None => self.start(None)?,
            Some(rows) if rows.is_empty() => {
                return Err(invalid_argument(
                    "the bound parameters have no rows: bind at least one row, or none at all",
                ));
            }
            Some(mut rows) if rows.len() == 1 => self.start(rows.pop())?,
            Some(rows) => self.start_per_row(rows)?,
        };
        Ok(Box::new(QueryReader::new(stream, self.engine.clone())))
    }

    fn execute_update(&mut self) -> Result<Option<i64>> {
        if self.ingest.table.is_some() {
            return self.execute_ingest().map(Some);
        }
        let runs: Vec<Option<Vec<ScalarValue>>> = match self.take_parameter_rows()? {
            None => vec![None],
            Some(rows) => rows.into_iter().map(Some).collect(),
        };
        let mut total = Some(0i64);
        for parameters in runs {
            let mut stream = self.start(parameters)?;
            let schema = stream.schema();
            let batches = runtime::block_on(async move {
                let mut batches = Vec::new();
                while let Some(batch) = stream.next().await {
                    batches.push(batch?);
                }
                Ok::<_, DataFusionError>(batches)
            })
            .and_then(|result| result)
            .map_err(from_datafusion)?;
            total = match (total, affected_rows(&schema, &batches)) {
                (Some(sum), Some(rows)) => Some(sum.saturating_add(rows)),
                _ => None,
            };
        }
        Ok(total)
    }

    fn execute_schema(&mut self) -> Result<Schema> {
        let sql = self.sql()?.to_string();
        let engine = self.engine.get()?;
        let (run_engine, run_sql) = (engine.clone(), sql.clone());
        runtime::block_on(async move {
            let (engine, sql) = (run_engine, run_sql);
            let statements = engine.statements(&sql)?;
            let last = statements
                .last()
                .ok_or_else(|| DataFusionError::Plan("the SQL text holds no statement".into()))?;
            let state = engine.session_context().state();
            let plan = state.create_logical_plan(last.text()).await?;
            Ok(plan.schema().as_arrow().clone())
        })
        .and_then(|result| result)
        .map_err(|error| query_error(&engine, &sql, error))
    }

    fn execute_partitions(&mut self) -> Result<PartitionedResult> {
        self.refuse_if_ingesting()?;
        let parameters = match self.take_parameter_rows()? {
            None => None,
            Some(mut rows) if rows.len() == 1 => rows.pop(),
            Some(rows) => {
                return Err(not_implemented(
                    &format!("{} rows of parameters for partitioned results", rows.len()),
                    "bind one row",
                ));
            }
        };
        // A new execution ends the last one's query (and its partitions).
        self.end_partitions();
        let sql = self.sql()?.to_string();
        let engine = self.engine.get()?;
        let running = self.cancel.start();
        let (run_engine, run_sql) = (engine.clone(), sql.clone());
        let query = runtime::block_on(async move {
            let start = partition_query(&run_engine, &run_sql, parameters);
            tokio::select! {
                biased;
                () = running.cancelled() => Err(dfshm::Cancelled.into()),
                query = start => query,
            }
        })
        .and_then(|result| result)
        .map_err(|error| query_error(&engine, &sql, error))?;
        let result = PartitionedResult {
            partitions: query.partitions.clone(),
            schema: query.schema.as_ref().clone(),
            rows_affected: -1,
        };
        self.partitioned = Some(query);
        Ok(result)
    }

    fn get_parameter_schema(&self) -> Result<Schema> {
        let sql = self.sql()?.to_string();
        let engine = self.engine.get()?;
        let (run_engine, run_sql) = (engine.clone(), sql.clone());
        runtime::block_on(async move {
            let (engine, sql) = (run_engine, run_sql);
            let plan = engine
                .session_context()
                .state()
                .create_logical_plan(&sql)
                .await?;
            let mut parameters: Vec<(usize, String, Option<DataType>)> = plan
                .get_parameter_types()?
                .into_iter()
                .map(|(name, data_type)| {
                    let position = name.trim_start_matches('$').parse().unwrap_or(usize::MAX);
                    (position, name, data_type)
                })
                .collect();
            parameters.sort();
            Ok(Schema::new(
                parameters
                    .into_iter()
                    .map(|(_, name, data_type)| {
                        Field::new(name, data_type.unwrap_or(DataType::Null), true)
                    })
                    .collect::<Vec<_>>(),
            ))
        })
        .and_then(|result| result)
        .map_err(|error| query_error(&engine, &sql, error))
    }

    fn prepare(&mut self) -> Result<()> {
        let sql = self.sql()?;
        self.engine
            .get()?
            .statements(sql)
            .map(drop)
            .map_err(from_datafusion)
    }

    fn set_sql_query(&mut self, query: impl AsRef<str>) -> Result<()> {
        // A statement is reused (one per cursor in Python): a new query ends any ingest set-up.
        self.sql = Some(query.as_ref().to_string());
        self.ingest = Ingest::default();
        self.bound = None;
        Ok(())
    }

    fn set_substrait_plan(&mut self, _plan: impl AsRef<[u8]>) -> Result<()> {
        Err(not_implemented(
            "Substrait plans",
            "pass SQL with AdbcStatementSetSqlQuery",
        ))
    }

    fn get_cancel_handle(&self) -> Box<dyn CancelHandle> {
        Box::new(Canceller::Statement(self.cancel.clone()))
    }
}

/// The stream `ExecuteQuery` returns: each `next` pulls batches from the running query. Small
/// batches are put together up to the session's batch size (`datafusion.execution.batch_size`):
/// a scan of several in-memory parts, or many partitions ending with a few rows each, would
/// otherwise hand the host many tiny batches, each with its own cost across the C interface.
/// Batches of at least half that size pass through unchanged. It owns a handle on the engine, so
/// it may be read after its statement, connection and database were released. Dropping it stops
/// the query on every worker.
struct QueryReader {
    schema: SchemaRef,
    stream: Option<SendableRecordBatchStream>,
    coalescer: BatchCoalescer,
    engine: SharedEngine,
}

impl QueryReader {
    fn new(stream: SendableRecordBatchStream, engine: SharedEngine) -> QueryReader {
        let schema = stream.schema();
        let target = engine
            .get()
            .map(|engine| {
                engine
                    .session_context()
                    .copied_config()
                    .options()
                    .execution
                    .batch_size
                    .get()
            })
            .unwrap_or(8192);
        QueryReader {
            coalescer: BatchCoalescer::new(schema.clone(), target)
                .with_biggest_coalesce_batch_size(Some(target / 2)),
            schema,
            stream: Some(stream),
            engine,
        }
    }

    /// The next batch of the query as it comes (an error, the end, or a panic turned into an
    /// error).
    fn pull(&mut self) -> Option<datafusion::error::Result<RecordBatch>> {
        let stream = self.stream.as_mut()?;
        // The C stream interface has no unwinding guard: a panic here would abort the host.
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime::block_on(stream.next())
        }));
        match polled {
            Ok(Ok(item)) => item,
            Ok(Err(error)) => Some(Err(error)),
            Err(_) => Some(Err(DataFusionError::Internal(
                "dfshm panicked while reading a result; the query was stopped".into(),
            ))),
        }
    }
}

impl Iterator for QueryReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.coalescer.next_completed_batch() {
                return Some(Ok(batch));
            }
            match self.pull() {
                Some(Ok(batch)) => {
                    if let Err(error) = self.coalescer.push_batch(batch) {
                        self.finish();
                        return Some(Err(error));
                    }
                }
                Some(Err(error)) => {
                    self.finish();
                    return Some(Err(errors::to_arrow(error)));
                }
                None => {
                    self.finish();
                    if let Err(error) = self.coalescer.finish_buffered_batch() {
                        return Some(Err(error));
                    }
                    return self.coalescer.next_completed_batch().map(Ok);
                }
            }
        }
    }
}

impl QueryReader {
    /// Drops the query inside the runtime, whose tasks its teardown may touch.
    fn finish(&mut self) {
        if let Some(stream) = self.stream.take() {
            match runtime::runtime() {
                Ok(runtime) => {
                    let _entered = runtime.enter();
                    drop(stream);
                }
                Err(_) => drop(stream),
            }
        }
    }
}

impl Drop for QueryReader {
    fn drop(&mut self) {
        if self.stream.is_some() && self.engine.in_owner_process() {
            self.finish();
        } else if let Some(stream) = self.stream.take() {
            // A copy in the child of a fork: its query lives in the parent.
            std::mem::forget(stream);
        }
    }
}

impl RecordBatchReader for QueryReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    #[test]
    fn dml_counts_are_summed_and_other_results_are_unknown() {
        let counts = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )]));
        let batch = RecordBatch::try_new(
            counts.clone(),
            vec![Arc::new(UInt64Array::from(vec![3, 4]))],
        )
        .unwrap();
        assert_eq!(affected_rows(&counts, &[batch.clone(), batch]), Some(14));
        assert_eq!(
            affected_rows(&counts, &[]),
            Some(0),
            "DML that changed nothing"
        );
        let other = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let rows =
            RecordBatch::try_new(other.clone(), vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        assert_eq!(affected_rows(&other, &[rows]), None);
        assert_eq!(
            affected_rows(&other, &[]),
            None,
            "a query that returned nothing"
        );
        assert_eq!(affected_rows(&Schema::empty(), &[]), None, "DDL");
    }

    #[test]
    fn a_cancel_reaches_the_current_execution_only() {
        let registry = CancelRegistry::default();
        let slot = Arc::new(CancelSlot::default());
        registry.lock().push(Arc::downgrade(&slot));
        let first = slot.start();
        Canceller::Connection(registry.clone())
            .try_cancel()
            .unwrap();
        assert!(first.is_cancelled());
        let second = slot.start();
        assert!(!second.is_cancelled(), "a new execution starts uncancelled");
        Canceller::Statement(slot.clone()).try_cancel().unwrap();
        assert!(second.is_cancelled());
        drop(slot);
        Canceller::Connection(registry).try_cancel().unwrap();
    }
}
