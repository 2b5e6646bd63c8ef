#!/usr/bin/env bash
# Copies the data files that the chosen sqllogictest files read from outside the
# datafusion-sqllogictest crate into tests/slt/data/, laid out like a DataFusion checkout.
# The copies are committed (CI reaches no Git host); this script is how they were made, from
# bare clones of the repositories below at the pinned commits:
#   tools/slt/external-data.sh ARROW_TESTING_GIT PARQUET_TESTING_GIT DATAFUSION_GIT
set -euo pipefail
cd "$(dirname "$0")/../.."

ARROW_TESTING_COMMIT=9cfebfef8982fb8612e0a2c59059752bd32321a3     # apache/arrow-testing
PARQUET_TESTING_COMMIT=1a2a75127be06fc0123f03ebd36c966f7beda27d   # apache/parquet-testing
DATAFUSION_COMMIT=bde8e5b24e772210885ea5272e5cb06b52c939c3        # a fork of apache/datafusion

if [ $# -ne 3 ]; then
  echo "usage: $0 ARROW_TESTING_GIT PARQUET_TESTING_GIT DATAFUSION_GIT (git folders, bare or not)" >&2
  exit 2
fi
out=tests/slt/data
# Each line: repository variable, commit variable, path in that repository, path under $out.
# The paths under $out are those of a DataFusion checkout (with its testing and
# parquet-testing submodules), which the .slt files name relative to datafusion/sqllogictest/.
copy() {
  local git=$1 commit=$2 path=$3 dest=$out/$4
  mkdir -p "$(dirname "$dest")"
  if [ "$(git -C "$git" cat-file -t "$commit:$path")" = tree ]; then
    rm -rf "$dest"; mkdir -p "$dest"
    git -C "$git" archive "$commit" "$path" | tar -x -C "$dest" --strip-components="$(tr -cd / <<<"$path" | wc -c | awk '{print $1 + 1}')"
  else
    git -C "$git" show "$commit:$path" > "$dest"
  fi
}
at=$1 pt=$2 df=$3
for f in alltypes_plain.parquet data_index_bloom_encoding_stats.parquet int96_from_spark.parquet \
         list_columns.parquet single_nan.parquet; do
  copy "$pt" $PARQUET_TESTING_COMMIT "data/$f" "parquet-testing/data/$f"
done
for f in aggregate_test_100.csv aggregate_test_100_with_dates.csv; do
  copy "$at" $ARROW_TESTING_COMMIT "data/csv/$f" "testing/data/csv/$f"
done
for f in 2.json 3.json aggregate_agg_multi_order.csv aggregate_simple.csv clickbench_hits_10.parquet \
         convert_first_last.csv cr_terminator.csv decimal_data.csv double_quote.csv escape.csv \
         json_array.json newlines_in_values.csv null_cases.csv partitioned_csv partitioned_table_arrow \
         partitioned_table_arrow_stream partitioned_table_json quote.csv recursive_cte test_binary.parquet \
         timestamp_with_tz.parquet timestamps.csv window_1.csv window_2.csv; do
  copy "$df" $DATAFUSION_COMMIT "datafusion/core/tests/data/$f" "datafusion/core/tests/data/$f"
done
for f in customer.csv lineitem.csv orders.csv part.csv; do
  copy "$df" $DATAFUSION_COMMIT "datafusion/core/tests/tpch-csv/$f" "datafusion/core/tests/tpch-csv/$f"
done
for f in example.arrow example_stream.arrow example_stream_corrupted_metadata_length.arrow \
         example_stream_empty.arrow; do
  copy "$df" $DATAFUSION_COMMIT "datafusion/datasource-arrow/tests/data/$f" "datafusion/datasource-arrow/tests/data/$f"
done
du -sh "$out"
