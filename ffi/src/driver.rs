//! The driver, its databases (an engine with its worker processes, configured by the `dfshm.*`
//! options) and connections (catalog calls and statements on that engine).
//!
//! The connections of one database share its catalog: a table created or ingested on one
//! connection is seen by the others, as in a database server. Each connection has a session of
//! its own ([`Engine::new_session`]), so its settings (`SET`, or the `datafusion.*` and
//! `distributed.*` connection options) are its own, as in PostgreSQL or DuckDB.

use crate::errors::{self, from_datafusion, invalid_argument, invalid_state, not_implemented};
use crate::metadata::{self, CatalogObjects, ColumnObject, InfoValue, SchemaObjects, TableObjects};
use crate::runtime::{self, SharedEngine};
use crate::statement::{
    CancelRegistry, Canceller, DfshmStatement, option_not_set, table_reference,
};
use adbc_core::error::{Error, Result, Status};
use adbc_core::options::{InfoCode, ObjectDepth, OptionConnection, OptionDatabase, OptionValue};
use adbc_core::{CancelHandle, Optionable};
use datafusion::arrow::array::RecordBatchReader;
use datafusion::arrow::datatypes::Schema;
use datafusion::datasource::TableType;
use dfshm::{Engine, EngineBuildError, datafusion};
use std::collections::HashSet;
use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The database options dfshm understands, with what each one means; all must be set before
/// `AdbcDatabaseInit`.
pub const OPTIONS: &[(&str, &str)] = &[
    (
        "dfshm.workers",
        "worker processes to run queries on (integer; 0 runs them in the host process; default: \
         the number of cores, at most 8)",
    ),
    (
        "dfshm.cache_dir",
        "folder for dfshm's cached results, created with mode 0700 (default: none)",
    ),
    (
        "dfshm.memory_limit",
        "memory each process's operators may use before they spill or fail, in bytes or with a \
         suffix such as 512M or 2G (default: unbounded)",
    ),
    (
        "dfshm.worker_path",
        "the dfshm-worker executable (default: DFSHM_WORKER, else dfshm-worker in the folder of \
         libdfshm_ffi or one folder up)",
    ),
    (
        "dfshm.target_partitions",
        "partitions per plan node (default: the number of cores)",
    ),
    (
        "dfshm.scan_bytes_per_task",
        "with workers, a file scan gets one task per this many bytes of files it reads, up to one \
         per worker, in bytes or with a suffix such as 1M (default: 1M)",
    ),
    (
        "dfshm.exchange_budget",
        "with workers, what one query may hold of partitions read from workers and not yet \
         consumed, in this process and in each worker, in bytes or with a suffix such as 16M \
         (default: 64M)",
    ),
    (
        "dfshm.remote_workers",
        "remote workers to run stages on too: comma-separated http://HOST:PORT URLs of `dfshm \
         worker --listen` processes; every worker must reach the tables by the same path or \
         object store URL (default: none)",
    ),
];

/// The ADBC driver: creates databases.
#[derive(Debug, Default)]
pub struct DfshmDriver;

impl adbc_core::Driver for DfshmDriver {
    type DatabaseType = DfshmDatabase;

    fn new_database(&mut self) -> Result<DfshmDatabase> {
        self.new_database_with_opts(std::iter::empty())
    }

    fn new_database_with_opts(
        &mut self,
        opts: impl IntoIterator<Item = (OptionDatabase, OptionValue)>,
    ) -> Result<DfshmDatabase> {
        let mut settings = Settings::default();
        for (key, value) in opts {
            settings.set(&key, value)?;
        }
        let engine = settings.build()?;
        Ok(DfshmDatabase { settings, engine })
    }
}

/// What the `dfshm.*` options asked for.
#[derive(Debug, Clone, Default)]
struct Settings {
    workers: Option<usize>,
    cache_dir: Option<PathBuf>,
    memory_limit: Option<usize>,
    worker_path: Option<PathBuf>,
    target_partitions: Option<usize>,
    scan_bytes_per_task: Option<usize>,
    exchange_budget: Option<usize>,
    remote_workers: Vec<String>,
}

impl Settings {
    fn set(&mut self, key: &OptionDatabase, value: OptionValue) -> Result<()> {
        let name = key.as_ref();
        match name {
            "dfshm.workers" => self.workers = Some(count(name, &value, 0)?),
            "dfshm.target_partitions" => self.target_partitions = Some(count(name, &value, 1)?),
            "dfshm.memory_limit" => self.memory_limit = Some(size(name, &value)?),
            "dfshm.scan_bytes_per_task" => self.scan_bytes_per_task = Some(size(name, &value)?),
            "dfshm.exchange_budget" => self.exchange_budget = Some(size(name, &value)?),
            "dfshm.cache_dir" => self.cache_dir = Some(path(name, &value)?),
            "dfshm.worker_path" => self.worker_path = Some(path(name, &value)?),
            "dfshm.remote_workers" => self.remote_workers = urls(name, &value)?,
            _ => {
                let known: Vec<&str> = OPTIONS.iter().map(|(key, _)| *key).collect();
                return Err(not_implemented(
                    &format!("the database option {name}"),
                    &format!("the options dfshm understands are {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn workers(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|cores| cores.get().min(8))
                .unwrap_or(2)
        })
    }

    fn build(&self) -> Result<SharedEngine> {
        let workers = self.workers();
        let mut builder = Engine::builder().workers(workers);
        if let Some(partitions) = self.target_partitions {
            builder = builder.target_partitions(partitions);
        }
        if let Some(bytes) = self.memory_limit {
            builder = builder.memory_limit_bytes(bytes);
        }
        if let Some(bytes) = self.scan_bytes_per_task {
            builder = builder.scan_bytes_per_task(bytes as u64);
        }
        if let Some(bytes) = self.exchange_budget {
            builder = builder.exchange_budget_bytes(bytes);
        }
        if let Some(dir) = &self.cache_dir {
            builder = builder.cache_dir(dir);
        }
        builder = builder.remote_workers(self.remote_workers.iter().cloned());
        builder = match (&self.worker_path, library_file()) {
            (Some(program), _) => builder.worker_program(program),
            (None, Some(library)) => builder.worker_search_near(library),
            (None, None) => builder,
        };
        let runtime = runtime::runtime().map_err(from_datafusion)?;
        let _entered = runtime.enter();
        let engine = builder.build().map_err(|error| {
            let status = match error {
                EngineBuildError::Workers(_) | EngineBuildError::CacheDir { .. } => Status::IO,
                _ => Status::InvalidArguments,
            };
            errors::error(status, format!("cannot open dfshm: {error}"), None)
        })?;
        Ok(SharedEngine::new(engine))
    }
}

fn count(name: &str, value: &OptionValue, least: usize) -> Result<usize> {
    let parsed = match value {
        OptionValue::Int(number) => usize::try_from(*number).ok(),
        OptionValue::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    parsed.filter(|&n| n >= least && n <= 1024).ok_or_else(|| {
        invalid_argument(format!(
            "{name} must be a whole number from {least} to 1024; got {value:?}"
        ))
    })
}

fn size(name: &str, value: &OptionValue) -> Result<usize> {
    let bytes = match value {
        OptionValue::Int(bytes) => usize::try_from(*bytes).ok().filter(|&b| b > 0),
        OptionValue::String(text) => dfshm::parse_byte_size(text).ok(),
        _ => None,
    };
    bytes.ok_or_else(|| {
        invalid_argument(format!(
            "{name} must be a size such as 536870912, 512M or 2G; got {value:?}"
        ))
    })
}

/// A comma-separated list of remote worker URLs (each checked when the database opens).
fn urls(name: &str, value: &OptionValue) -> Result<Vec<String>> {
    match value {
        OptionValue::String(text) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_string)
            .collect()),
        _ => Err(invalid_argument(format!(
            "{name} must be a string of comma-separated http://HOST:PORT URLs; got {value:?}"
        ))),
    }
}

fn path(name: &str, value: &OptionValue) -> Result<PathBuf> {
    match value {
        OptionValue::String(text) if !text.is_empty() => Ok(PathBuf::from(text)),
        _ => Err(invalid_argument(format!(
            "{name} must be a path; got {value:?}"
        ))),
    }
}

/// The file this library was loaded from (the executable when it was linked in statically).
fn library_file() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let address = library_file as fn() -> Option<PathBuf> as *const libc::c_void;
    // SAFETY: dladdr only looks the address (a function of this library) up and writes `info`.
    let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so it filled in `info`.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the dynamic loader, valid while the
    // library is loaded, which it is while this function runs.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
}

/// An ADBC database: one dfshm engine and its worker processes.
pub struct DfshmDatabase {
    settings: Settings,
    engine: SharedEngine,
}

impl Optionable for DfshmDatabase {
    type Option = OptionDatabase;

    fn set_option(&mut self, key: Self::Option, value: OptionValue) -> Result<()> {
        if key.as_ref().starts_with("dfshm.") {
            return Err(invalid_state(format!(
                "{} must be set before AdbcDatabaseInit; the database is already open",
                key.as_ref()
            )));
        }
        let mut scratch = Settings::default();
        scratch.set(&key, value)
    }

    fn get_option_string(&self, key: Self::Option) -> Result<String> {
        let settings = &self.settings;
        let value = match key.as_ref() {
            "dfshm.workers" => Some(settings.workers().to_string()),
            "dfshm.target_partitions" => self
                .engine
                .get()
                .ok()
                .map(|engine| engine.target_partitions().to_string()),
            "dfshm.memory_limit" => settings.memory_limit.map(|bytes| bytes.to_string()),
            "dfshm.scan_bytes_per_task" => Some(
                settings
                    .scan_bytes_per_task
                    .map_or(dfshm::DEFAULT_SCAN_BYTES_PER_TASK, |bytes| bytes as u64)
                    .to_string(),
            ),
            "dfshm.exchange_budget" => Some(
                settings
                    .exchange_budget
                    .unwrap_or(dfshm::DEFAULT_EXCHANGE_BUDGET)
                    .to_string(),
            ),
            "dfshm.cache_dir" => settings.cache_dir.as_ref().map(|p| p.display().to_string()),
            "dfshm.remote_workers" => Some(settings.remote_workers.join(",")),
            "dfshm.worker_path" => settings
                .worker_path
                .as_ref()
                .map(|p| p.display().to_string()),
            _ => None,
        };
        value.ok_or_else(|| option_not_set(key.as_ref()))
    }

    fn get_option_bytes(&self, key: Self::Option) -> Result<Vec<u8>> {
        self.get_option_string(key).map(String::into_bytes)
    }

    fn get_option_int(&self, key: Self::Option) -> Result<i64> {
        let text = self.get_option_string(key.clone())?;
        text.parse().map_err(|_| option_not_set(key.as_ref()))
    }

    fn get_option_double(&self, key: Self::Option) -> Result<f64> {
        Err(option_not_set(key.as_ref()))
    }
}

impl adbc_core::Database for DfshmDatabase {
    type ConnectionType = DfshmConnection;

    fn new_connection(&self) -> Result<DfshmConnection> {
        self.new_connection_with_opts(std::iter::empty())
    }

    fn new_connection_with_opts(
        &self,
        opts: impl IntoIterator<Item = (OptionConnection, OptionValue)>,
    ) -> Result<DfshmConnection> {
        let mut connection = DfshmConnection {
            engine: self.engine.new_session()?,
            cancels: CancelRegistry::default(),
        };
        for (key, value) in opts {
            connection.set_option(key, value)?;
        }
        Ok(connection)
    }
}

/// An ADBC connection: catalog calls and statements on a session of its database's engine.
pub struct DfshmConnection {
    engine: SharedEngine,
    cancels: CancelRegistry,
}

impl Optionable for DfshmConnection {
    type Option = OptionConnection;

    fn set_option(&mut self, key: Self::Option, value: OptionValue) -> Result<()> {
        match (&key, &value) {
            (OptionConnection::AutoCommit, OptionValue::String(on)) if on == "true" => Ok(()),
            (OptionConnection::AutoCommit, _) => Err(not_implemented(
                "transactions",
                "every statement takes effect at once (autocommit is always on)",
            )),
            (OptionConnection::Other(name), value) if is_session_setting(name) => {
                let text = match value {
                    OptionValue::String(text) => text.clone(),
                    OptionValue::Int(number) => number.to_string(),
                    OptionValue::Double(number) => number.to_string(),
                    _ => {
                        return Err(invalid_argument(format!(
                            "{name} takes a string, an integer or a double, not bytes"
                        )));
                    }
                };
                let engine = self.engine.get()?;
                let state = engine.session_context().state_ref();
                let mut state = state.write();
                state
                    .config_mut()
                    .options_mut()
                    .set(name, &text)
                    .map_err(from_datafusion)
            }
            _ => Err(not_implemented(
                &format!("the connection option {}", key.as_ref()),
                "set DataFusion's settings with the datafusion.* and distributed.* connection                  options or SET, and dfshm's with the dfshm.* database options",
            )),
        }
    }

    fn get_option_string(&self, key: Self::Option) -> Result<String> {
        let options = || {
            self.engine.get().map(|engine| {
                engine
                    .session_context()
                    .copied_config()
                    .options()
                    .catalog
                    .clone()
            })
        };
        match key {
            OptionConnection::AutoCommit => Ok("true".into()),
            OptionConnection::CurrentCatalog => Ok(options()?.default_catalog),
            OptionConnection::CurrentSchema => Ok(options()?.default_schema),
            OptionConnection::Other(name) if is_session_setting(&name) => {
                let engine = self.engine.get()?;
                let config = engine.session_context().copied_config();
                config
                    .options()
                    .entries()
                    .into_iter()
                    .find(|entry| entry.key == name)
                    .and_then(|entry| entry.value)
                    .ok_or_else(|| option_not_set(&name))
            }
            other => Err(option_not_set(other.as_ref())),
        }
    }

    fn get_option_bytes(&self, key: Self::Option) -> Result<Vec<u8>> {
        self.get_option_string(key).map(String::into_bytes)
    }

    fn get_option_int(&self, key: Self::Option) -> Result<i64> {
        Err(option_not_set(key.as_ref()))
    }

    fn get_option_double(&self, key: Self::Option) -> Result<f64> {
        Err(option_not_set(key.as_ref()))
    }
}

/// Whether connection option `name` is one of DataFusion's session settings (its own namespace or
/// datafusion-distributed's), which a connection sets for itself.
fn is_session_setting(name: &str) -> bool {
    name.starts_with("datafusion.") || name.starts_with("distributed.")
}

impl DfshmConnection {
    fn gather_objects(
        &self,
        level: u8,
        filters: [Option<&str>; 4],
        table_types: Option<Vec<String>>,
    ) -> Result<Vec<CatalogObjects>> {
        let [catalog_filter, schema_filter, table_filter, column_filter] =
            filters.map(|filter| filter.map(str::to_string));
        let engine = self.engine.get()?;
        runtime::block_on(async move {
            let ctx = engine.session_context();
            let mut catalogs = Vec::new();
            let mut catalog_names = ctx.catalog_names();
            catalog_names.sort();
            for catalog_name in catalog_names {
                let Some(catalog) = ctx.catalog(&catalog_name) else {
                    continue;
                };
                if !metadata::like(catalog_filter.as_deref(), &catalog_name) {
                    continue;
                }
                let mut found = CatalogObjects {
                    name: catalog_name,
                    schemas: Vec::new(),
                };
                let mut schema_names = if level >= 2 {
                    catalog.schema_names()
                } else {
                    Vec::new()
                };
                schema_names.sort();
                for schema_name in schema_names {
                    let Some(schema) = catalog.schema(&schema_name) else {
                        continue;
                    };
                    if !metadata::like(schema_filter.as_deref(), &schema_name) {
                        continue;
                    }
                    let mut tables = Vec::new();
                    let mut table_names = if level >= 3 {
                        schema.table_names()
                    } else {
                        Vec::new()
                    };
                    table_names.sort();
                    for table_name in table_names {
                        if !metadata::like(table_filter.as_deref(), &table_name) {
                            continue;
                        }
                        let Some(table) = schema.table(&table_name).await? else {
                            continue;
                        };
                        let table_type = match table.table_type() {
                            TableType::Base => "TABLE",
                            TableType::View => "VIEW",
                            TableType::Temporary => "LOCAL TEMPORARY",
                        };
                        if let Some(types) = &table_types
                            && !types.iter().any(|wanted| wanted == table_type)
                        {
                            continue;
                        }
                        let columns = if level >= 4 {
                            columns(&table.schema(), column_filter.as_deref())
                        } else {
                            Vec::new()
                        };
                        tables.push(TableObjects {
                            name: table_name,
                            table_type: table_type.into(),
                            columns,
                        });
                    }
                    found.schemas.push(SchemaObjects {
                        name: schema_name,
                        tables,
                    });
                }
                catalogs.push(found);
            }
            Ok(catalogs)
        })
        .and_then(|result| result)
        .map_err(from_datafusion)
    }
}

fn columns(schema: &Schema, filter: Option<&str>) -> Vec<ColumnObject> {
    schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| metadata::like(filter, field.name()))
        .map(|(i, field)| ColumnObject {
            name: field.name().clone(),
            position: i32::try_from(i + 1).unwrap_or(i32::MAX),
            type_name: field.data_type().to_string(),
            nullable: field.is_nullable(),
        })
        .collect()
}

fn arrow_error(error: datafusion::arrow::error::ArrowError) -> Error {
    errors::error(Status::Internal, error.to_string(), None)
}

impl adbc_core::Connection for DfshmConnection {
    type StatementType = DfshmStatement;

    fn new_statement(&mut self) -> Result<DfshmStatement> {
        self.engine.get()?;
        Ok(DfshmStatement::new(self.engine.clone(), &self.cancels))
    }

    fn get_cancel_handle(&self) -> Box<dyn CancelHandle> {
        Box::new(Canceller::Connection(self.cancels.clone()))
    }

    fn get_info(
        &self,
        codes: Option<HashSet<InfoCode>>,
    ) -> Result<Box<dyn RecordBatchReader + Send>> {
        let values: Vec<(InfoCode, InfoValue)> = metadata::driver_info()
            .into_iter()
            .filter(|(code, _)| codes.as_ref().is_none_or(|codes| codes.contains(code)))
            .collect();
        let batch = metadata::info_batch(&values).map_err(arrow_error)?;
        Ok(metadata::one_batch(batch))
    }

    fn get_objects(
        &self,
        depth: ObjectDepth,
        catalog: Option<&str>,
        db_schema: Option<&str>,
        table_name: Option<&str>,
        table_type: Option<Vec<&str>>,
        column_name: Option<&str>,
    ) -> Result<Box<dyn RecordBatchReader + Send>> {
        let types = table_type.map(|types| types.into_iter().map(str::to_string).collect());
        let objects = self.gather_objects(
            metadata::depth_level(depth),
            [catalog, db_schema, table_name, column_name],
            types,
        )?;
        let batch = metadata::objects_batch(&objects, depth).map_err(arrow_error)?;
        Ok(metadata::one_batch(batch))
    }

    fn get_table_schema(
        &self,
        catalog: Option<&str>,
        db_schema: Option<&str>,
        table_name: &str,
    ) -> Result<Schema> {
        let engine = self.engine.get()?;
        let reference = table_reference(&engine, catalog, db_schema, table_name);
        let shown = reference.to_string();
        let found = runtime::block_on(async move {
            engine
                .session_context()
                .table_provider(reference)
                .await
                .map(|table| table.schema().as_ref().clone())
        })
        .map_err(from_datafusion)?;
        found.map_err(|_| {
            errors::error(
                Status::NotFound,
                format!("table {shown} not found"),
                Some("42P01"),
            )
        })
    }

    fn get_table_types(&self) -> Result<Box<dyn RecordBatchReader + Send>> {
        let batch = metadata::table_types_batch(&["TABLE", "VIEW", "LOCAL TEMPORARY"])
            .map_err(arrow_error)?;
        Ok(metadata::one_batch(batch))
    }

    fn get_statistic_names(&self) -> Result<Box<dyn RecordBatchReader + Send>> {
        Err(not_implemented(
            "statistics",
            "query the table, e.g. SELECT count(*)",
        ))
    }

    fn get_statistics(
        &self,
        _catalog: Option<&str>,
        _db_schema: Option<&str>,
        _table_name: Option<&str>,
        _approximate: bool,
    ) -> Result<Box<dyn RecordBatchReader + Send>> {
        Err(not_implemented(
            "statistics",
            "query the table, e.g. SELECT count(*)",
        ))
    }

    fn commit(&mut self) -> Result<()> {
        Err(invalid_state(
            "autocommit is on (dfshm has no transactions); there is nothing to commit",
        ))
    }

    fn rollback(&mut self) -> Result<()> {
        Err(invalid_state(
            "autocommit is on (dfshm has no transactions); there is nothing to roll back",
        ))
    }

    fn read_partition(
        &self,
        partition: impl AsRef<[u8]>,
    ) -> Result<Box<dyn RecordBatchReader + Send>> {
        crate::statement::read_partition(&self.engine, partition.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_accept_strings_and_integers_and_refuse_nonsense() {
        let mut settings = Settings::default();
        let key = |name: &str| OptionDatabase::Other(name.into());
        settings
            .set(&key("dfshm.workers"), OptionValue::String("3".into()))
            .unwrap();
        assert_eq!(settings.workers(), 3);
        settings
            .set(&key("dfshm.workers"), OptionValue::Int(0))
            .unwrap();
        assert_eq!(settings.workers(), 0);
        let negative = settings
            .set(&key("dfshm.workers"), OptionValue::Int(-1))
            .unwrap_err();
        assert_eq!(negative.status, Status::InvalidArguments);
        assert!(
            negative.message.contains("dfshm.workers"),
            "{}",
            negative.message
        );
        settings
            .set(
                &key("dfshm.memory_limit"),
                OptionValue::String("512M".into()),
            )
            .unwrap();
        assert_eq!(settings.memory_limit, Some(512 << 20));
        settings
            .set(
                &key("dfshm.remote_workers"),
                OptionValue::String(" http://h1:7000, http://h2:7000 ,".into()),
            )
            .unwrap();
        assert_eq!(
            settings.remote_workers,
            ["http://h1:7000", "http://h2:7000"]
        );
        let urls = settings
            .set(&key("dfshm.remote_workers"), OptionValue::Int(7000))
            .unwrap_err();
        assert!(
            urls.message.contains("http://HOST:PORT"),
            "{}",
            urls.message
        );
        let unknown = settings
            .set(&key("dfshm.wrokers"), OptionValue::Int(2))
            .unwrap_err();
        assert_eq!(unknown.status, Status::NotImplemented);
        assert!(
            unknown.message.contains("dfshm.workers"),
            "{}",
            unknown.message
        );
        let uri = settings
            .set(&OptionDatabase::Uri, OptionValue::String("x".into()))
            .unwrap_err();
        assert_eq!(uri.status, Status::NotImplemented);
    }

    /// Runs `sql` on a new statement of `connection`; returns the rows of its first column as text.
    fn column(connection: &mut DfshmConnection, sql: &str) -> Vec<String> {
        use adbc_core::{Connection as _, Statement as _};
        let mut statement = connection.new_statement().unwrap();
        statement.set_sql_query(sql).unwrap();
        let reader = statement.execute().unwrap();
        let mut values = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            for row in 0..batch.num_rows() {
                let column = batch.column(0);
                values.push(
                    datafusion::arrow::util::display::array_value_to_string(column, row).unwrap(),
                );
            }
        }
        values
    }

    #[test]
    fn connections_keep_their_own_settings_and_share_tables() {
        use adbc_core::{Database as _, Driver as _};
        let database = DfshmDriver
            .new_database_with_opts([(
                OptionDatabase::Other("dfshm.workers".into()),
                OptionValue::Int(0),
            )])
            .unwrap();
        let (mut first, mut second) = (
            database.new_connection().unwrap(),
            database.new_connection().unwrap(),
        );
        const NAME: &str = "datafusion.execution.batch_size";
        let key = || OptionConnection::Other(NAME.into());
        first.set_option(key(), OptionValue::Int(123)).unwrap();
        column(&mut second, &format!("SET {NAME} = 456"));
        let shown = |connection: &mut DfshmConnection| {
            column(
                connection,
                &format!("SELECT value FROM information_schema.df_settings WHERE name = '{NAME}'"),
            )
        };
        assert_eq!(shown(&mut first), ["123"]);
        assert_eq!(shown(&mut second), ["456"]);
        assert_eq!(first.get_option_string(key()).unwrap(), "123");
        assert_eq!(second.get_option_string(key()).unwrap(), "456");
        let mut third = database.new_connection().unwrap();
        assert_ne!(
            shown(&mut third),
            ["123"],
            "a new connection starts from the defaults"
        );
        // Tables are the database's: made on one connection, seen on the others.
        column(&mut first, "CREATE TABLE shared_t AS VALUES (1), (2), (3)");
        assert_eq!(column(&mut second, "SELECT count(*) FROM shared_t"), ["3"]);
        assert_eq!(column(&mut third, "SELECT count(*) FROM shared_t"), ["3"]);
        // A setting that does not exist, and a value it cannot take, are refused by name.
        let unknown = first
            .set_option(
                OptionConnection::Other("datafusion.nope".into()),
                OptionValue::Int(1),
            )
            .unwrap_err();
        assert!(unknown.message.contains("nope"), "{}", unknown.message);
        let bytes = first
            .set_option(key(), OptionValue::Bytes(vec![1]))
            .unwrap_err();
        assert_eq!(bytes.status, Status::InvalidArguments);
    }

    #[test]
    fn the_library_knows_its_own_file() {
        let file = library_file().expect("dladdr finds this code");
        assert!(file.exists(), "{}", file.display());
    }
}
