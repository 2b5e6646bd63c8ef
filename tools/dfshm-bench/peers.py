"""One peer engine of `dfshm-bench tpch --peers`, serving timed queries over standard input/output.

Started by dfshm-bench as `python -c <this script> ENGINE DATA_DIR` (the script is compiled into
it), in the environment that `tools/python-env.sh` creates; `python peers.py ENGINE DATA_DIR` runs
it by hand. ENGINE is `duckdb`, `polars` or `datafusion-python`; DATA_DIR holds
the 8 TPC-H tables as `<table>.parquet` files or `<table>/` folders of Parquet files.

The protocol is JSON, one object per line. The first line written is `{"ready": "<engine> <version>"}`,
or `{"missing": "<why>"}` (the engine is not installed; the process then exits) or
`{"error": "<why>"}` (the tables could not be registered). Then each line read is
`{"sql": "<statements>"}`, answered by `{"ms": <elapsed>, "rows": <rows of the last SELECT>}` or
`{"error": "<message>"}`. Statements are split at `;`, which the TPC-H queries use only between
statements. The time covers running every statement and materializing the results as Arrow, as
dfshm-bench's own modes do; it leaves out this protocol. End of input ends the process.
"""

import json
import os
import re
import sys
import time

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


CREATE_VIEW = re.compile(
    r"create\s+view\s+(?P<name>\w+)\s*(\((?P<columns>[^)]*)\))?\s+as\s+(?P<query>.*)",
    re.IGNORECASE | re.DOTALL)
DROP_VIEW = re.compile(r"drop\s+view\s+(?P<name>\w+)", re.IGNORECASE)
QUERY = re.compile(r"(select|with|values)\b", re.IGNORECASE)


def parquet_of(data_dir, table):
    """The glob of `table`'s Parquet files in `data_dir`, in either layout."""
    single = os.path.join(data_dir, table + ".parquet")
    if os.path.isfile(single):
        return single
    folder = os.path.join(data_dir, table)
    if os.path.isdir(folder):
        return os.path.join(folder, "*.parquet")
    raise FileNotFoundError(f"{data_dir} has no {table}.parquet file and no {table}/ folder")


def statements_of(sql):
    """`sql`'s statements, each with whether it is a query (whose rows are counted)."""
    statements = [part.strip() for part in sql.split(";") if part.strip()]
    return [(statement, QUERY.match(statement) is not None) for statement in statements]


class DuckDb:
    def __init__(self, data_dir):
        import duckdb

        self.version = "duckdb " + duckdb.__version__
        self.con = duckdb.connect()
        for table in TABLES:
            path = parquet_of(data_dir, table).replace("'", "''")
            self.con.execute(f"create view {table} as select * from read_parquet('{path}')")

    def run(self, sql):
        rows = 0
        for statement, query in statements_of(sql):
            relation = self.con.sql(statement)  # runs other statements at once
            if query:
                to_arrow = getattr(relation, "to_arrow_table", None) or relation.arrow
                rows = to_arrow().num_rows
        return rows


class Polars:
    def __init__(self, data_dir):
        import polars

        self.version = "polars " + polars.__version__
        frames = {table: polars.scan_parquet(parquet_of(data_dir, table)) for table in TABLES}
        self.ctx = polars.SQLContext(frames)

    def run(self, sql):
        rows = 0
        for statement, query in statements_of(sql):
            if self.view_statement(statement):
                continue
            result = self.ctx.execute(statement, eager=True)
            if query:
                rows = result.to_arrow().num_rows
        return rows

    def view_statement(self, statement):
        """Polars' SQL has no views (TPC-H q15 makes one): `create view NAME [(COLUMNS)] as QUERY`
        registers QUERY's lazy frame under NAME, with the columns renamed; `drop view NAME`
        unregisters it. Returns whether `statement` was one of those."""
        create = CREATE_VIEW.fullmatch(statement)
        if create:
            frame = self.ctx.execute(create["query"])
            if create["columns"]:
                names = [name.strip() for name in create["columns"].split(",")]
                frame = frame.rename(dict(zip(frame.collect_schema().names(), names)))
            self.ctx.register(create["name"], frame)
            return True
        drop = DROP_VIEW.fullmatch(statement)
        if drop:
            self.ctx.unregister(drop["name"])
            return True
        return False


class DataFusionPython:
    def __init__(self, data_dir):
        import datafusion

        self.version = "datafusion-python " + datafusion.__version__
        self.ctx = datafusion.SessionContext()
        for table in TABLES:
            path = parquet_of(data_dir, table)
            folder = path[: -len("/*.parquet")] if path.endswith("/*.parquet") else path
            self.ctx.register_parquet(table, folder)

    def run(self, sql):
        rows = 0
        for statement, query in statements_of(sql):
            batches = self.ctx.sql(statement).collect()
            if query:
                rows = sum(batch.num_rows for batch in batches)
        return rows


ENGINES = {"duckdb": (DuckDb, "duckdb"), "polars": (Polars, "polars"),
           "datafusion-python": (DataFusionPython, "datafusion")}


def say(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ENGINES:
        sys.exit(f"usage: peers.py {{{','.join(ENGINES)}}} DATA_DIR")
    engine_class, module = ENGINES[sys.argv[1]]
    try:
        __import__(module)
    except ImportError as error:
        say({"missing": f"the Python module `{module}` is not installed in {sys.prefix} ({error}); "
                        "`bash tools/python-env.sh` installs it"})
        return
    try:
        engine = engine_class(sys.argv[2])
    except Exception as error:  # noqa: BLE001 - whatever the engine raises is reported, not fatal
        say({"error": f"cannot register the TPC-H tables: {error}"})
        return
    say({"ready": engine.version})
    for line in sys.stdin:
        request = json.loads(line)
        started = time.perf_counter()
        try:
            rows = engine.run(request["sql"])
        except Exception as error:  # noqa: BLE001 - a query the engine cannot run is reported
            say({"error": str(error).strip().splitlines()[0] if str(error).strip() else repr(error)})
            continue
        say({"ms": (time.perf_counter() - started) * 1000.0, "rows": rows})


if __name__ == "__main__":
    main()
