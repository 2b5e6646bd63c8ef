//! Writing a statement's rows to stdout in the chosen format, streaming batch by batch.
//!
//! `table` keeps at most `--maxrows` rows in memory (the rest are counted, not kept); the other
//! formats write each batch as it arrives, so memory stays bounded for any result size.

use dfshm::datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use dfshm::datafusion::arrow::datatypes::SchemaRef;
use dfshm::datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use dfshm::datafusion::arrow::record_batch::RecordBatch;
use dfshm::datafusion::arrow::util::pretty::pretty_format_batches;
use dfshm::datafusion::error::{DataFusionError, Result};
use dfshm::datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use std::io::Write;

/// The output formats of the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table, for people.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON array of objects per statement.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// How many rows the `table` format shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxRows {
    /// Show at most this many rows.
    Limited(usize),
    /// Show every row.
    Unlimited,
}

impl std::str::FromStr for MaxRows {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("inf") || text.eq_ignore_ascii_case("all") {
            return Ok(MaxRows::Unlimited);
        }
        text.parse::<usize>()
            .map(MaxRows::Limited)
            .map_err(|_| format!("expected a number of rows or `inf`, got `{text}`"))
    }
}

/// What printing a result saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printed {
    /// Rows in the result.
    pub rows: usize,
    /// Rows shown (less than `rows` when `table` truncated the output).
    pub shown: usize,
}

fn io_error(error: std::io::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// Streams `stream` to `out` in `format`.
pub async fn print_stream(
    mut stream: SendableRecordBatchStream,
    format: Format,
    max_rows: MaxRows,
    out: &mut dyn Write,
) -> Result<Printed> {
    let schema = stream.schema();
    match format {
        Format::Table => {
            let limit = match max_rows {
                MaxRows::Limited(rows) => rows,
                MaxRows::Unlimited => usize::MAX,
            };
            let mut kept = Vec::new();
            let (mut rows, mut shown) = (0usize, 0usize);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                let room = limit - shown;
                if room > 0 && batch.num_rows() > 0 {
                    let take = room.min(batch.num_rows());
                    shown += take;
                    kept.push(batch.slice(0, take));
                }
            }
            write_table(&schema, &kept, out)?;
            Ok(Printed { rows, shown })
        }
        Format::Csv => {
            let mut writer = CsvWriterBuilder::new().with_header(true).build(&mut *out);
            // An empty batch first, so that the header is written even for an empty result.
            writer.write(&RecordBatch::new_empty(schema.clone()))?;
            let rows = drain(&mut stream, |batch| Ok(writer.write(batch)?)).await?;
            Ok(Printed { rows, shown: rows })
        }
        Format::Json => {
            let mut writer = ArrayWriter::new(&mut *out);
            let rows = drain(&mut stream, |batch| Ok(writer.write(batch)?)).await?;
            if rows == 0 {
                out.write_all(b"[]").map_err(io_error)?;
            } else {
                writer.finish()?;
            }
            out.write_all(b"\n").map_err(io_error)?;
            Ok(Printed { rows, shown: rows })
        }
        Format::Ndjson => {
            let mut writer = LineDelimitedWriter::new(&mut *out);
            let rows = drain(&mut stream, |batch| Ok(writer.write(batch)?)).await?;
            writer.finish()?;
            Ok(Printed { rows, shown: rows })
        }
    }
}

async fn drain(
    stream: &mut SendableRecordBatchStream,
    mut write: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<usize> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() > 0 {
            write(&batch)?;
            rows += batch.num_rows();
        }
    }
    Ok(rows)
}

fn write_table(schema: &SchemaRef, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let batches = if batches.is_empty() {
        vec![RecordBatch::new_empty(schema.clone())]
    } else {
        batches.to_vec()
    };
    let table = pretty_format_batches(&batches)?;
    writeln!(out, "{table}").map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfshm::datafusion::arrow::array::{Int64Array, StringArray};
    use dfshm::datafusion::arrow::datatypes::{DataType, Field, Schema};
    use dfshm::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use std::sync::Arc;

    fn stream(batches: Vec<RecordBatch>, schema: SchemaRef) -> SendableRecordBatchStream {
        Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches.into_iter().map(Ok)),
        ))
    }

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("y", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c,d")])),
            ],
        )
        .unwrap();
        (schema, vec![batch.clone(), batch])
    }

    async fn render(format: Format, max_rows: MaxRows, empty: bool) -> (String, Printed) {
        let (schema, batches) = sample();
        let batches = if empty { vec![] } else { batches };
        let mut out = Vec::new();
        let printed = print_stream(stream(batches, schema), format, max_rows, &mut out)
            .await
            .unwrap();
        (String::from_utf8(out).unwrap(), printed)
    }

    #[tokio::test]
    async fn csv_writes_one_header_then_every_row_quoting_commas() {
        let (text, printed) = render(Format::Csv, MaxRows::Limited(1), false).await;
        assert_eq!(text, "x,y\n1,a\n2,\n3,\"c,d\"\n1,a\n2,\n3,\"c,d\"\n");
        assert_eq!(printed, Printed { rows: 6, shown: 6 });
    }

    #[tokio::test]
    async fn csv_of_an_empty_result_is_only_the_header() {
        let (text, _) = render(Format::Csv, MaxRows::Unlimited, true).await;
        assert_eq!(text, "x,y\n");
    }

    #[tokio::test]
    async fn json_is_one_array_per_statement_and_empty_is_brackets() {
        let (text, _) = render(Format::Json, MaxRows::Unlimited, false).await;
        assert!(
            text.starts_with("[{\"x\":1,\"y\":\"a\"},{\"x\":2}"),
            "{text}"
        );
        assert!(text.ends_with("]\n"));
        let (empty, _) = render(Format::Json, MaxRows::Unlimited, true).await;
        assert_eq!(empty, "[]\n");
    }

    #[tokio::test]
    async fn ndjson_is_one_object_per_line() {
        let (text, _) = render(Format::Ndjson, MaxRows::Unlimited, false).await;
        assert_eq!(text.lines().count(), 6);
        assert_eq!(text.lines().next(), Some("{\"x\":1,\"y\":\"a\"}"));
    }

    #[tokio::test]
    async fn table_shows_at_most_maxrows_but_counts_every_row() {
        let (text, printed) = render(Format::Table, MaxRows::Limited(4), false).await;
        assert_eq!(printed, Printed { rows: 6, shown: 4 });
        // Header, 4 rows, 3 borders.
        assert_eq!(text.lines().count(), 8, "{text}");
    }

    #[test]
    fn maxrows_parses_numbers_and_inf() {
        assert_eq!("10".parse::<MaxRows>(), Ok(MaxRows::Limited(10)));
        assert_eq!("inf".parse::<MaxRows>(), Ok(MaxRows::Unlimited));
        assert!("ten".parse::<MaxRows>().is_err());
    }
}
