//! The fixed result shapes of ADBC's catalog calls, built from plain values: `GetInfo`'s dense
//! union, `GetObjects`' four levels of nested lists, `GetTableTypes`. The connection gathers the
//! values; this module only lays them out as Arrow arrays of exactly ADBC's schemas.

use adbc_core::options::{InfoCode, ObjectDepth};
use adbc_core::schemas;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch,
    RecordBatchIterator, RecordBatchReader, StringArray, StructArray, UInt32Array, UnionArray,
    new_empty_array, new_null_array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::arrow::error::ArrowError;
use dfshm::datafusion;
use std::sync::Arc;

/// A one-batch reader, the shape every catalog call returns.
pub(crate) fn one_batch(batch: RecordBatch) -> Box<dyn RecordBatchReader + Send> {
    let schema = batch.schema();
    Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema))
}

/// One value of `GetInfo`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InfoValue {
    Text(String),
    Flag(bool),
    Number(i64),
}

/// What dfshm reports for each info code it knows, in code order.
pub(crate) fn driver_info() -> Vec<(InfoCode, InfoValue)> {
    let version = dfshm::version().to_string();
    let arrow = format!("arrow {}", ARROW_MAJOR);
    vec![
        (InfoCode::VendorName, InfoValue::Text("dfshm".into())),
        (InfoCode::VendorVersion, InfoValue::Text(version.clone())),
        (InfoCode::VendorArrowVersion, InfoValue::Text(arrow.clone())),
        (InfoCode::VendorSql, InfoValue::Flag(true)),
        (InfoCode::VendorSubstrait, InfoValue::Flag(false)),
        (
            InfoCode::DriverName,
            InfoValue::Text("dfshm ADBC driver".into()),
        ),
        (InfoCode::DriverVersion, InfoValue::Text(version)),
        (InfoCode::DriverArrowVersion, InfoValue::Text(arrow)),
        (
            InfoCode::DriverAdbcVersion,
            InfoValue::Number(adbc_core::constants::ADBC_VERSION_1_1_0.into()),
        ),
    ]
}

/// The arrow major dfshm is built with (DataFusion's).
const ARROW_MAJOR: u32 = 59;

/// `GetInfo`'s batch: `info_name` and the dense union `info_value`.
pub(crate) fn info_batch(values: &[(InfoCode, InfoValue)]) -> Result<RecordBatch, ArrowError> {
    let union_type = schemas::GET_INFO_SCHEMA
        .field_with_name("info_value")?
        .data_type()
        .clone();
    let DataType::Union(fields, _) = union_type else {
        return Err(ArrowError::SchemaError("info_value is not a union".into()));
    };
    let (mut type_ids, mut offsets) = (Vec::new(), Vec::new());
    let (mut texts, mut flags, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
    for (_, value) in values {
        let (id, offset) = match value {
            InfoValue::Text(text) => (0, push(&mut texts, text.clone())),
            InfoValue::Flag(flag) => (1, push(&mut flags, *flag)),
            InfoValue::Number(number) => (2, push(&mut numbers, *number)),
        };
        type_ids.push(id);
        offsets.push(offset);
    }
    let children: Vec<ArrayRef> = fields
        .iter()
        .map(|(id, field)| -> ArrayRef {
            match id {
                0 => Arc::new(StringArray::from(texts.clone())),
                1 => Arc::new(BooleanArray::from(flags.clone())),
                2 => Arc::new(Int64Array::from(numbers.clone())),
                _ => new_empty_array(field.data_type()),
            }
        })
        .collect();
    let union = UnionArray::try_new(
        fields,
        ScalarBuffer::from(type_ids),
        Some(ScalarBuffer::from(offsets)),
        children,
    )?;
    let names = UInt32Array::from_iter_values(values.iter().map(|(code, _)| u32::from(code)));
    RecordBatch::try_new(
        schemas::GET_INFO_SCHEMA.clone(),
        vec![Arc::new(names), Arc::new(union)],
    )
}

fn push<T>(values: &mut Vec<T>, value: T) -> i32 {
    values.push(value);
    i32::try_from(values.len() - 1).unwrap_or(i32::MAX)
}

/// A catalog and what `GetObjects` found in it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CatalogObjects {
    pub(crate) name: String,
    pub(crate) schemas: Vec<SchemaObjects>,
}

/// A schema and its tables.
#[derive(Debug, Clone, Default)]
pub(crate) struct SchemaObjects {
    pub(crate) name: String,
    pub(crate) tables: Vec<TableObjects>,
}

/// A table, its type (`TABLE`, `VIEW`, `LOCAL TEMPORARY`) and its columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableObjects {
    pub(crate) name: String,
    pub(crate) table_type: String,
    pub(crate) columns: Vec<ColumnObject>,
}

/// A column: name, 1-based position, Arrow type, nullability.
#[derive(Debug, Clone)]
pub(crate) struct ColumnObject {
    pub(crate) name: String,
    pub(crate) position: i32,
    pub(crate) type_name: String,
    pub(crate) nullable: bool,
}

/// How deep `depth` reaches: 1 catalogs, 2 schemas, 3 tables, 4 columns.
pub(crate) fn depth_level(depth: ObjectDepth) -> u8 {
    match depth {
        ObjectDepth::Catalogs => 1,
        ObjectDepth::Schemas => 2,
        ObjectDepth::Tables => 3,
        ObjectDepth::Columns | ObjectDepth::All => 4,
    }
}

/// `GetObjects`' batch; levels below `depth` are null lists.
pub(crate) fn objects_batch(
    catalogs: &[CatalogObjects],
    depth: ObjectDepth,
) -> Result<RecordBatch, ArrowError> {
    let level = depth_level(depth);
    let schemas_of = catalogs.iter().map(|c| c.schemas.len());
    let all_schemas: Vec<&SchemaObjects> = catalogs.iter().flat_map(|c| &c.schemas).collect();
    let all_tables: Vec<&TableObjects> = all_schemas.iter().flat_map(|s| &s.tables).collect();
    let all_columns: Vec<&ColumnObject> = all_tables.iter().flat_map(|t| &t.columns).collect();

    let columns = struct_array(
        &schemas::COLUMN_SCHEMA,
        |field| match field.name().as_str() {
            "column_name" => Some(Arc::new(StringArray::from_iter_values(
                all_columns.iter().map(|c| c.name.as_str()),
            ))),
            "ordinal_position" => Some(Arc::new(Int32Array::from_iter_values(
                all_columns.iter().map(|c| c.position),
            ))),
            "xdbc_type_name" => Some(Arc::new(StringArray::from_iter_values(
                all_columns.iter().map(|c| c.type_name.as_str()),
            ))),
            "xdbc_nullable" => Some(Arc::new(Int16Array::from_iter_values(
                all_columns.iter().map(|c| i16::from(c.nullable)),
            ))),
            "xdbc_is_nullable" => Some(Arc::new(StringArray::from_iter_values(
                all_columns
                    .iter()
                    .map(|c| if c.nullable { "YES" } else { "NO" }),
            ))),
            _ => None,
        },
        all_columns.len(),
    )?;
    let table_columns = list_array(
        &schemas::COLUMN_SCHEMA,
        all_tables.iter().map(|t| t.columns.len()),
        columns,
        level >= 4,
    )?;
    let constraints = list_array(
        &schemas::CONSTRAINT_SCHEMA,
        all_tables.iter().map(|_| 0),
        new_empty_array(&schemas::CONSTRAINT_SCHEMA),
        level >= 4,
    )?;
    let tables = struct_array(
        &schemas::TABLE_SCHEMA,
        |field| match field.name().as_str() {
            "table_name" => Some(Arc::new(StringArray::from_iter_values(
                all_tables.iter().map(|t| t.name.as_str()),
            ))),
            "table_type" => Some(Arc::new(StringArray::from_iter_values(
                all_tables.iter().map(|t| t.table_type.as_str()),
            ))),
            "table_columns" => Some(table_columns.clone()),
            "table_constraints" => Some(constraints.clone()),
            _ => None,
        },
        all_tables.len(),
    )?;
    let schema_tables = list_array(
        &schemas::TABLE_SCHEMA,
        all_schemas.iter().map(|s| s.tables.len()),
        tables,
        level >= 3,
    )?;
    let db_schemas = struct_array(
        &schemas::OBJECTS_DB_SCHEMA_SCHEMA,
        |field| match field.name().as_str() {
            "db_schema_name" => Some(Arc::new(StringArray::from_iter_values(
                all_schemas.iter().map(|s| s.name.as_str()),
            ))),
            "db_schema_tables" => Some(schema_tables.clone()),
            _ => None,
        },
        all_schemas.len(),
    )?;
    let catalog_schemas = list_array(
        &schemas::OBJECTS_DB_SCHEMA_SCHEMA,
        schemas_of,
        db_schemas,
        level >= 2,
    )?;
    let names = StringArray::from_iter_values(catalogs.iter().map(|c| c.name.as_str()));
    RecordBatch::try_new(
        schemas::GET_OBJECTS_SCHEMA.clone(),
        vec![Arc::new(names), catalog_schemas],
    )
}

/// A struct array of type `struct_type` (one of ADBC's nested statics) with `rows` rows: the
/// columns `fill` gives, nulls for the others.
fn struct_array(
    struct_type: &DataType,
    fill: impl Fn(&Field) -> Option<ArrayRef>,
    rows: usize,
) -> Result<ArrayRef, ArrowError> {
    let fields: Fields = match struct_type {
        DataType::Struct(fields) => fields.clone(),
        other => return Err(ArrowError::SchemaError(format!("{other} is not a struct"))),
    };
    let columns = fields
        .iter()
        .map(|field| fill(field).unwrap_or_else(|| new_null_array(field.data_type(), rows)))
        .collect();
    Ok(Arc::new(StructArray::try_new(fields, columns, None)?))
}

/// A list array of `item_type` items, one list per length in `lengths` over `values`; all null
/// (and empty) when the level was not asked for.
fn list_array(
    item_type: &DataType,
    lengths: impl Iterator<Item = usize>,
    values: ArrayRef,
    present: bool,
) -> Result<ArrayRef, ArrowError> {
    let lengths: Vec<usize> = lengths.collect();
    let field = Arc::new(Field::new_list_field(item_type.clone(), true));
    if !present {
        let count = lengths.len();
        return Ok(Arc::new(ListArray::try_new(
            field,
            OffsetBuffer::new_zeroed(count),
            new_empty_array(item_type),
            Some(NullBuffer::new_null(count)),
        )?));
    }
    debug_assert_eq!(lengths.iter().sum::<usize>(), values.len());
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::from_lengths(lengths),
        values,
        None,
    )?))
}

/// `GetTableTypes`' batch.
pub(crate) fn table_types_batch(types: &[&str]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schemas::GET_TABLE_TYPES_SCHEMA.clone(),
        vec![Arc::new(StringArray::from_iter_values(
            types.iter().copied(),
        ))],
    )
}

/// ADBC's catalog filters are SQL `LIKE` patterns: `%` matches any run of characters, `_` any one
/// character, `\` escapes the next one. No pattern matches everything.
pub(crate) fn like(pattern: Option<&str>, text: &str) -> bool {
    let Some(pattern) = pattern else {
        return true;
    };
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => Token::Any,
            '_' => Token::One,
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            c => Token::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // matches[j]: the tokens seen so far match text[..j].
    let mut matches = vec![false; text.len() + 1];
    matches[0] = true;
    for token in tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                Token::Any => matches[j] || (j > 0 && next[j - 1]),
                Token::One => j > 0 && matches[j - 1],
                Token::Char(c) => j > 0 && matches[j - 1] && text[j - 1] == c,
            };
        }
        matches = next;
    }
    matches[text.len()]
}

#[derive(Clone, Copy)]
enum Token {
    Any,
    One,
    Char(char),
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;

    fn sample() -> Vec<CatalogObjects> {
        let column = |name: &str, position| ColumnObject {
            name: name.into(),
            position,
            type_name: "Int64".into(),
            nullable: position == 2,
        };
        vec![CatalogObjects {
            name: "datafusion".into(),
            schemas: vec![
                SchemaObjects {
                    name: "public".into(),
                    tables: vec![
                        TableObjects {
                            name: "t".into(),
                            table_type: "TABLE".into(),
                            columns: vec![column("a", 1), column("b", 2)],
                        },
                        TableObjects {
                            name: "v".into(),
                            table_type: "VIEW".into(),
                            columns: vec![column("c", 1)],
                        },
                    ],
                },
                SchemaObjects {
                    name: "empty".into(),
                    tables: vec![],
                },
            ],
        }]
    }

    #[test]
    fn objects_nest_four_levels_and_depth_cuts_them() {
        let batch = objects_batch(&sample(), ObjectDepth::All).unwrap();
        assert_eq!(batch.schema(), schemas::GET_OBJECTS_SCHEMA.clone());
        let schemas_list = batch.column(1).as_list::<i32>();
        let db_schemas = schemas_list.value(0);
        let db_schemas = db_schemas.as_struct();
        assert_eq!(db_schemas.len(), 2);
        let tables = db_schemas.column(1).as_list::<i32>();
        assert!(tables.value(1).is_empty(), "the empty schema has no tables");
        let public_tables = tables.value(0);
        let public_tables = public_tables.as_struct();
        let names = public_tables.column(0).as_string::<i32>();
        assert_eq!(names.value(1), "v");
        let columns = public_tables.column(2).as_list::<i32>().value(0);
        let columns = columns.as_struct();
        assert_eq!(columns.column(0).as_string::<i32>().value(1), "b");
        let is_nullable = columns.column_by_name("xdbc_is_nullable").unwrap();
        assert_eq!(is_nullable.as_string::<i32>().value(0), "NO");

        let tables_only = objects_batch(&sample(), ObjectDepth::Tables).unwrap();
        let db = tables_only.column(1).as_list::<i32>().value(0);
        let tables = db.as_struct().column(1).as_list::<i32>().value(0);
        assert!(
            tables.as_struct().column(2).is_null(0),
            "no columns at depth tables"
        );

        let catalogs = objects_batch(&sample(), ObjectDepth::Catalogs).unwrap();
        assert!(catalogs.column(1).is_null(0));
        assert_eq!(objects_batch(&[], ObjectDepth::All).unwrap().num_rows(), 0);
    }

    #[test]
    fn info_is_a_dense_union_in_adbc_layout() {
        let batch = info_batch(&driver_info()).unwrap();
        assert_eq!(batch.schema(), schemas::GET_INFO_SCHEMA.clone());
        let codes = batch
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
        assert_eq!(codes.value(0), 0, "vendor name first");
        let union = batch.column(1).as_union();
        assert_eq!(union.value(0).as_string::<i32>().value(0), "dfshm");
        let last = union.value(batch.num_rows() - 1);
        let version = last.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(version.value(0), 1_001_000);
    }

    #[test]
    fn like_patterns_match_as_in_sql() {
        assert!(like(None, "anything"));
        assert!(like(Some("line%"), "lineitem"));
        assert!(!like(Some("line%"), "orders"));
        assert!(like(Some("%"), ""));
        assert!(like(Some("t_"), "t1"));
        assert!(!like(Some("t_"), "t"));
        assert!(like(Some("a\\_b"), "a_b"));
        assert!(!like(Some("a\\_b"), "axb"));
        assert!(like(Some("%item"), "lineitem"));
        assert!(like(Some("LINEITEM"), "LINEITEM"));
        assert!(!like(Some("LINEITEM"), "lineitem"), "case matters");
        assert_eq!(table_types_batch(&["TABLE", "VIEW"]).unwrap().num_rows(), 2);
    }
}
