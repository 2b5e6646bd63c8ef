//! Data for tests and benchmarks: batches that exercise every Arrow type dfshm must carry.
//!
//! Public (but hidden from the docs) so that integration tests, benchmarks and unit tests share
//! one definition. Nothing here is used by the engine itself.

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray,
    Float64Array, Int32Array, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray,
    StringViewArray, StructArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type};
use std::sync::Arc;

pub mod ring_bench;

/// A batch with every type TPC-H plans produce, plus nested and dictionary columns, with nulls.
pub fn every_type_batch(rows: usize) -> RecordBatch {
    let ints: Int32Array = (0..rows as i32)
        .map(|v| (v % 7 != 0).then_some(v))
        .collect();
    let longs = Int64Array::from_iter_values((0..rows as i64).map(|v| v * 1_000_003));
    let decimals =
        Decimal128Array::from_iter((0..rows as i128).map(|v| (v % 5 != 0).then_some(v * 101)))
            .with_precision_and_scale(15, 2)
            .expect("valid by construction");
    let dates = Date32Array::from_iter_values((0..rows as i32).map(|v| 8000 + v % 2500));
    let strings: StringArray = (0..rows)
        .map(|v| (v % 11 != 0).then(|| format!("value-{v}-{}", "x".repeat(v % 13))))
        .collect();
    let views: StringViewArray = (0..rows)
        .map(|v| Some(format!("a longer view string {v}")))
        .collect();
    let large: LargeStringArray = (0..rows).map(|v| Some(v.to_string())).collect();
    let floats = Float64Array::from_iter_values((0..rows).map(|v| v as f64 / 3.0));
    let bools: BooleanArray = (0..rows)
        .map(|v| (v % 3 != 0).then_some(v % 2 == 0))
        .collect();
    let binary = BinaryArray::from_iter_values((0..rows).map(|v| vec![v as u8; v % 5]));
    let stamps =
        TimestampMicrosecondArray::from_iter_values((0..rows as i64).map(|v| v * 1_000_000));
    let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(
        (0..rows as i32).map(|v| (v % 4 != 0).then(|| (0..v % 5).map(Some).collect::<Vec<_>>())),
    );
    let nested = StructArray::from(vec![
        (
            Arc::new(Field::new("n", DataType::Int64, false)),
            Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|v| -v))) as ArrayRef,
        ),
        (
            Arc::new(Field::new("s", DataType::Utf8, true)),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|v| Some(format!("s{v}"))),
            )) as ArrayRef,
        ),
    ]);
    let dictionary: DictionaryArray<Int32Type> = (0..rows)
        .map(|v| ["MAIL", "SHIP", "AIR", "RAIL"][v % 4])
        .collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("ints", Arc::new(ints)),
        ("longs", Arc::new(longs)),
        ("decimals", Arc::new(decimals)),
        ("dates", Arc::new(dates)),
        ("strings", Arc::new(strings)),
        ("views", Arc::new(views)),
        ("large", Arc::new(large)),
        ("floats", Arc::new(floats)),
        ("bools", Arc::new(bools)),
        ("binary", Arc::new(binary)),
        ("stamps", Arc::new(stamps)),
        ("lists", Arc::new(lists)),
        ("nested", Arc::new(nested)),
        ("dictionary", Arc::new(dictionary)),
    ];
    RecordBatch::try_from_iter(columns).expect("valid by construction")
}
