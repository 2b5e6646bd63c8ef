//! Arrow values as DataFusion's sqllogictest runner prints them, so that results compare with the
//! expectations written in DataFusion's `.slt` files. Ported from `datafusion-sqllogictest` 55.2
//! (`engines/conversion.rs`, `engines/datafusion_engine/normalize.rs`, `engines/output.rs`;
//! Apache-2.0, the Apache Software Foundation), without its Postgres and Spark variants.
//!
//! This module only formats; it never decides whether a result is right.

use bigdecimal::BigDecimal;
use datafusion::arrow::array::{self, Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Decimal32Type, Decimal64Type, Decimal128Type, Decimal256Type, DecimalType, Fields,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use half::f16;
use sqllogictest::ColumnType;
use std::str::FromStr;

/// How a value is printed for NULL.
pub const NULL_STR: &str = "NULL";

/// The column types of DataFusion's runner (`B`, `D`, `I`, `P`, `R`, `T`, `?`).
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum DFColumnType {
    Boolean,
    DateTime,
    Integer,
    Float,
    Text,
    Timestamp,
    Another,
}

impl ColumnType for DFColumnType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'B' => Self::Boolean,
            'D' => Self::DateTime,
            'I' => Self::Integer,
            'P' => Self::Timestamp,
            'R' => Self::Float,
            'T' => Self::Text,
            _ => Self::Another,
        })
    }

    fn to_char(&self) -> char {
        match self {
            Self::Boolean => 'B',
            Self::DateTime => 'D',
            Self::Integer => 'I',
            Self::Timestamp => 'P',
            Self::Float => 'R',
            Self::Text => 'T',
            Self::Another => '?',
        }
    }
}

/// The column types of a result, as DataFusion's runner reports them.
pub fn column_types(fields: &Fields) -> Vec<DFColumnType> {
    fields
        .iter()
        .map(|field| match field.data_type() {
            DataType::Boolean => DFColumnType::Boolean,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => DFColumnType::Integer,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => DFColumnType::Float,
            DataType::Decimal32(_, _)
            | DataType::Decimal64(_, _)
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _) => DFColumnType::Float,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DFColumnType::Text,
            DataType::Date32 | DataType::Date64 | DataType::Time32(_) | DataType::Time64(_) => {
                DFColumnType::DateTime
            }
            DataType::Timestamp(_, _) => DFColumnType::Timestamp,
            DataType::Dictionary(key, value) if key.is_integer() => match value.as_ref() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DFColumnType::Text,
                _ => DFColumnType::Another,
            },
            _ => DFColumnType::Another,
        })
        .collect()
}

/// The rows of `batches` as strings; a last cell holding several lines (EXPLAIN) becomes one row
/// per line, as in DataFusion's runner. Paths under `workspace_root` print as `WORKSPACE_ROOT`.
pub fn rows(
    batches: &[RecordBatch],
    workspace_root: &str,
) -> datafusion::error::Result<Vec<Vec<String>>> {
    let mut rows = vec![];
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .map(|column| cell_to_string(column, row))
                .collect::<Result<Vec<_>, _>>()?;
            for mut expanded in expand_row(cells) {
                for cell in &mut expanded {
                    if !workspace_root.is_empty() && cell.contains(workspace_root) {
                        *cell = cell.replace(workspace_root, "WORKSPACE_ROOT");
                    }
                }
                rows.push(expanded);
            }
        }
    }
    Ok(rows)
}

/// One row per line of a multi-line last cell, leading spaces shown as `-` (sqllogictest ignores
/// whitespace) and each line numbered.
fn expand_row(mut row: Vec<String>) -> Vec<Vec<String>> {
    let Some(cell) = row.pop() else {
        return vec![row];
    };
    let lines: Vec<&str> = cell.split('\n').collect();
    if lines.len() < 2 {
        row.push(cell);
        return vec![row];
    }
    let mut out = vec![row];
    for (index, line) in lines.iter().enumerate() {
        let content = line.trim_start();
        let prefix = "-".repeat(line.len() - content.len());
        out.push(vec![format!("{:02}){prefix}{content}", index + 1)]);
    }
    out
}

/// One value as DataFusion's runner prints it: NULL, `(empty)` for an empty string, floats and
/// decimals rounded to 12 places, everything else through Arrow's display with NULL for nulls.
pub fn cell_to_string(column: &ArrayRef, row: usize) -> datafusion::error::Result<String> {
    if column.is_null(row) {
        return Ok(NULL_STR.to_string());
    }
    Ok(match column.data_type() {
        DataType::Null => NULL_STR.to_string(),
        DataType::Boolean => column.as_boolean().value(row).to_string(),
        DataType::Float16 => float_to_str(
            column
                .as_primitive::<array::types::Float16Type>()
                .value(row),
        ),
        DataType::Float32 => float_to_str(
            column
                .as_primitive::<array::types::Float32Type>()
                .value(row),
        ),
        DataType::Float64 => float_to_str(
            column
                .as_primitive::<array::types::Float64Type>()
                .value(row),
        ),
        DataType::Decimal32(_, scale) => decimal_to_str::<Decimal32Type>(
            column.as_primitive::<Decimal32Type>().value(row),
            *scale,
        ),
        DataType::Decimal64(_, scale) => decimal_to_str::<Decimal64Type>(
            column.as_primitive::<Decimal64Type>().value(row),
            *scale,
        ),
        DataType::Decimal128(_, scale) => decimal_to_str::<Decimal128Type>(
            column.as_primitive::<Decimal128Type>().value(row),
            *scale,
        ),
        DataType::Decimal256(_, scale) => decimal_to_str::<Decimal256Type>(
            column.as_primitive::<Decimal256Type>().value(row),
            *scale,
        ),
        DataType::Utf8 => varchar_to_str(column.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => varchar_to_str(column.as_string::<i64>().value(row)),
        DataType::Utf8View => varchar_to_str(column.as_string_view().value(row)),
        DataType::Dictionary(_, _) => {
            let dictionary = column.as_any_dictionary();
            let key = dictionary.normalized_keys()[row];
            cell_to_string(dictionary.values(), key)?
        }
        _ => {
            // DataFusion's display defaults (its `datafusion.format.*` options), not Arrow's.
            let datafusion_options = datafusion::config::FormatOptions {
                null: NULL_STR.to_string(),
                ..Default::default()
            };
            let options: FormatOptions = (&datafusion_options).try_into()?;
            ArrayFormatter::try_new(column.as_ref(), &options)?
                .value(row)
                .to_string()
        }
    })
}

fn varchar_to_str(value: &str) -> String {
    if value.is_empty() {
        "(empty)".to_string()
    } else {
        value.trim_end_matches('\n').replace('\u{0000}', "\\0")
    }
}

/// A float as DataFusion's runner prints it: NaN without its sign, infinities spelled out,
/// anything else rounded to 12 decimal places with trailing zeros dropped.
fn float_to_str<F: FloatText>(value: F) -> String {
    if value.is_nan_value() {
        "NaN".to_string()
    } else if value.is_infinite_value() {
        if value.is_negative_value() {
            "-Infinity"
        } else {
            "Infinity"
        }
        .to_string()
    } else {
        big_decimal_to_str(&value.to_text(), None)
    }
}

/// The float types the runner prints.
trait FloatText: Copy {
    fn is_nan_value(self) -> bool;
    fn is_infinite_value(self) -> bool;
    fn is_negative_value(self) -> bool;
    fn to_text(self) -> String;
}

macro_rules! float_text {
    ($($float:ty),*) => {$(
        impl FloatText for $float {
            fn is_nan_value(self) -> bool { self.is_nan() }
            fn is_infinite_value(self) -> bool { self.is_infinite() }
            fn is_negative_value(self) -> bool { self.is_sign_negative() }
            fn to_text(self) -> String { self.to_string() }
        }
    )*};
}
float_text!(f16, f32, f64);

fn decimal_to_str<T: DecimalType>(value: T::Native, scale: i8) -> String {
    let text = T::format_decimal(value, u8::MAX, scale);
    big_decimal_to_str(&text, Some(i64::from(scale)))
}

/// A decimal text rounded to `round_digits` places (12 by default), in plain notation.
fn big_decimal_to_str(text: &str, round_digits: Option<i64>) -> String {
    match BigDecimal::from_str(text) {
        Ok(value) => value
            .round(round_digits.unwrap_or(12))
            .normalized()
            .to_plain_string(),
        // Not a number BigDecimal reads (never seen for finite floats): print it as it is.
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_datafusions_runner_prints_them() {
        assert_eq!(big_decimal_to_str("0.110", None), "0.11");
        assert_eq!(
            big_decimal_to_str("1.0000000000011", None),
            "1.000000000001"
        );
        assert_eq!(
            big_decimal_to_str("1.0000000000011", Some(13)),
            "1.0000000000011"
        );
        assert_eq!(decimal_to_str::<Decimal128Type>(12345, 2), "123.45");
        assert_eq!(float_to_str(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(float_to_str(-f32::NAN), "NaN");
        assert_eq!(float_to_str(2.5f64), "2.5");
        assert_eq!(varchar_to_str(""), "(empty)");
    }

    #[test]
    fn a_multi_line_last_cell_becomes_numbered_rows() {
        let rows = expand_row(vec!["plan".into(), "a\n  b".into()]);
        assert_eq!(
            rows,
            vec![
                vec!["plan".to_string()],
                vec!["01)a".into()],
                vec!["02)--b".into()]
            ]
        );
    }
}
