"""A Python host of the dfshm ADBC driver, run by ffi/tests/python_host.rs.

It loads libdfshm_ffi through the `adbc-driver-manager` package (its DB-API layer), runs TPC-H
queries on worker processes and compares them with in-process DataFusion (the same driver with
dfshm.workers = 0), ingests a pyarrow table and queries it, binds parameters, checks catalog
calls, error messages, a cancel from another thread, a closed stream, pandas and polars reading
and pandas writing through the driver, partitioned results read by child processes, two
connections' own settings over shared tables, a fork, and remote workers (dfshm.remote_workers).

usage: python test_adbc.py LIBRARY TPCH_DIR QUERIES_DIR REMOTE_URLS
(REMOTE_URLS: comma-separated URLs of two running `dfshm-worker --listen` processes)
"""

import json
import math
import os
import subprocess
import sys
import threading
import time
import warnings

import adbc_driver_manager
import adbc_driver_manager.dbapi as dbapi
import pandas as pd
import polars as pl
import pyarrow as pa

LIBRARY, TPCH, QUERIES, REMOTE = sys.argv[1:5]
TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
QUERY_NUMBERS = [1, 3, 5, 6, 10, 12, 13, 14, 18]
checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        raise AssertionError(message)


def connect(workers, **options):
    with warnings.catch_warnings():
        # connect() asks for autocommit off; dfshm has no transactions and says so.
        warnings.simplefilter("ignore")
        options = {f"dfshm.{key}": value for key, value in options.items()}
        conn = dbapi.connect(
            driver=LIBRARY, db_kwargs={"dfshm.workers": str(workers), **options}
        )
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(
                f"CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION '{TPCH}/{table}/'"
            )
    return conn


def run(conn, sql, parameters=None):
    with conn.cursor() as cur:
        cur.execute(sql, parameters)
        return cur.fetch_arrow_table()


def same(left, right):
    """Equal rows, floats within a relative 1e-9 (sums may be added up in another order)."""
    if left.schema.names != right.schema.names or left.num_rows != right.num_rows:
        return False
    for a, b in zip(left.to_pylist(), right.to_pylist()):
        for key in a:
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


def expect_error(kind, needle, action):
    try:
        action()
    except kind as error:
        check(needle in str(error), f"{kind.__name__} without {needle!r}: {error}")
        return error
    raise AssertionError(f"expected {kind.__name__} mentioning {needle!r}")


# Reads one partition in a process of its own (as a multi-process host would), printing its
# rows as JSON; exits 3 with the error when the read is refused.
READ_PARTITION = r"""
import json, sys, warnings
import adbc_driver_manager.dbapi as dbapi
library, descriptor = sys.argv[1], bytes.fromhex(sys.argv[2])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    conn = dbapi.connect(driver=library, db_kwargs={"dfshm.workers": "0"})
try:
    with conn.cursor() as cur:
        cur.adbc_read_partition(descriptor)
        print(json.dumps(cur.fetch_arrow_table().to_pylist(), default=str))
except dbapi.Error as error:
    print(error, file=sys.stderr)
    sys.exit(3)
finally:
    conn.close()
"""


def read_partitions(partitions):
    """Reads each partition in its own process, all at once: (exit code, rows, stderr) each."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", READ_PARTITION, LIBRARY, partition.hex()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for partition in partitions
    ]
    outcomes = []
    for child in children:
        out, err = child.communicate(timeout=120)
        rows = json.loads(out) if child.returncode == 0 else []
        outcomes.append((child.returncode, rows, err))
    return outcomes


def main():
    workers, in_process = connect(2), connect(0)

    # TPC-H on worker processes equals in-process DataFusion.
    for number in QUERY_NUMBERS:
        with open(f"{QUERIES}/q{number}.sql") as f:
            sql = f.read()
        got, want = run(workers, sql), run(in_process, sql)
        check(want.num_rows > 0, f"q{number} returns rows")
        check(same(got, want), f"q{number}: workers {got} differ from in-process {want}")

    # Remote workers only: the same answers, and EXPLAIN ANALYZE shows tasks on each of them.
    remote = connect(0, remote_workers=REMOTE, scan_bytes_per_task="64K")
    stored = remote.adbc_database.get_option("dfshm.remote_workers")
    check(stored == REMOTE, f"dfshm.remote_workers reads back: {stored}")
    for number in (3, 10):
        with open(f"{QUERIES}/q{number}.sql") as f:
            sql = f.read()
        got, want = run(remote, sql), run(in_process, sql)
        check(same(got, want), f"q{number}: remote workers {got} differ from in-process {want}")
        plan = "\n".join(run(remote, f"EXPLAIN ANALYZE {sql}").column("plan").to_pylist())
        for url in REMOTE.split(","):
            check(url.rstrip("/") in plan, f"q{number} ran no task on {url}:\n{plan}")
    remote.close()
    expect_error(Exception, "http://HOST:PORT", lambda: connect(0, remote_workers="h1:7000"))

    # Bulk ingest of host Arrow data, then queries over it on the workers.
    people = pa.table({"id": [1, 2, 3], "name": ["ada", "bob", "cy"]})
    with workers.cursor() as cur:
        check(cur.adbc_ingest("people", people, mode="create") == 3, "ingest reports 3 rows")
        more = pa.table({"id": [4, 5], "name": ["dee", "eve"]})
        check(cur.adbc_ingest("people", more, mode="append") == 2, "append reports 2 rows")
        expect_error(
            dbapi.ProgrammingError,
            "already exists",
            lambda: cur.adbc_ingest("people", people, mode="create"),
        )
    total = run(workers, "SELECT sum(id) AS s, count(*) AS n FROM people").to_pylist()
    check(total == [{"s": 15, "n": 5}], f"ingested rows are queried: {total}")
    joined = run(
        workers,
        "SELECT p.name, n.n_name FROM people p JOIN nation n ON p.id = n.n_nationkey "
        "ORDER BY p.id",
    )
    check(joined.num_rows == 5, f"ingested rows join TPC-H: {joined}")
    with workers.cursor() as cur:
        batches = pa.RecordBatchReader.from_batches(people.schema, people.to_batches())
        check(cur.adbc_ingest("people", batches, mode="replace") == 3, "replace from a stream")
    check(run(workers, "SELECT count(*) AS n FROM people").to_pylist() == [{"n": 3}], "replaced")

    # Parameters.
    answer = run(workers, "SELECT $1 + 1 AS x, $2 AS y", (41, "hi")).to_pylist()
    check(answer == [{"x": 42, "y": "hi"}], f"bound parameters: {answer}")
    with workers.cursor() as cur:
        cur.execute("CREATE TABLE log (n BIGINT)")
        check(cur.rowcount == -1, f"execute() reports no row count: {cur.rowcount}")
        cur.executemany("INSERT INTO log VALUES ($1)", [(1,), (2,), (3,)])
        check(cur.rowcount == 3, f"executemany reports the rows inserted: {cur.rowcount}")
    check(run(workers, "SELECT sum(n) AS s FROM log").to_pylist() == [{"s": 6}], "executemany")

    # Catalog calls.
    schema = workers.adbc_get_table_schema("lineitem")
    check(len(schema) == 16 and schema.names[0] == "l_orderkey", f"table schema: {schema}")
    objects = workers.adbc_get_objects(depth="all", table_name_filter="line%").read_all()
    tables = [
        table["table_name"]
        for catalog in objects.to_pylist()
        for db_schema in catalog["catalog_db_schemas"]
        for table in db_schema["db_schema_tables"]
    ]
    check(tables == ["lineitem"], f"GetObjects with a filter: {tables}")
    info = workers.adbc_get_info()
    check(info["vendor_name"] == "dfshm", f"GetInfo: {info}")
    check(info["driver_adbc_version"] == 1_001_000, f"GetInfo: {info}")

    # Errors carry ADBC statuses, SQLSTATEs and DataFusion's message.
    with workers.cursor() as cur:
        error = expect_error(dbapi.ProgrammingError, "SELEC", lambda: cur.execute("SELEC 1"))
        check(error.sqlstate == "42601", f"syntax error SQLSTATE: {error.sqlstate}")
        error = expect_error(
            dbapi.ProgrammingError, "nope", lambda: cur.execute("SELECT * FROM nope")
        )
        check(error.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND, "not found")

    # A cancel from another thread stops a long query that this thread is reading.
    with workers.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM lineitem a JOIN lineitem b ON a.l_linenumber = b.l_linenumber"
        )
        timer = threading.Timer(0.3, cur.adbc_cancel)
        timer.start()
        expect_error(Exception, "cancel", cur.fetch_arrow_table)
        timer.join()
        cur.execute("SELECT 7 AS seven")
        check(cur.fetchall() == [(7,)], "the cursor works after a cancel")

    # A closed stream cannot be read again: an error, not a crash.
    with workers.cursor() as cur:
        cur.execute("SELECT * FROM nation")
        reader = cur.fetch_record_batch()
        reader.close()
        expect_error(Exception, "", reader.read_next_batch)

    # Two connections of one database: settings of their own, the same tables, on the workers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no transactions, as in connect()
        first = dbapi.connect(driver=LIBRARY, db_kwargs={"dfshm.workers": "2"})
        second = first.adbc_clone()  # a second connection of the same database
    setting = (
        "SELECT value FROM information_schema.df_settings "
        "WHERE name = 'datafusion.execution.batch_size'"
    )
    with first.cursor() as cur:
        cur.execute("SET datafusion.execution.batch_size = 1000")
        cur.execute(f"CREATE EXTERNAL TABLE nation STORED AS PARQUET LOCATION '{TPCH}/nation/'")
    with second.cursor() as cur:
        cur.execute("SET datafusion.execution.batch_size = 2000")
    check(run(first, setting).to_pylist() == [{"value": "1000"}], "first keeps its setting")
    check(run(second, setting).to_pylist() == [{"value": "2000"}], "second keeps its own")
    for conn in (first, second):
        rows = run(conn, "SELECT count(*) AS n FROM nation").to_pylist()
        check(rows == [{"n": 25}], f"both see the table one of them made: {rows}")
    first.close()
    second.close()

    # Real clients: pandas and polars, given the connection, read what pyarrow reads through the
    # driver; pandas writes DataFrames through it (to_sql, which ingests, and adbc_ingest).
    for number in (3, 10):
        with open(f"{QUERIES}/q{number}.sql") as f:
            sql = f.read()
        plan = "\n".join(run(workers, f"EXPLAIN {sql}").column("plan").to_pylist())
        check("Network" in plan, f"q{number} runs stages on the workers:\n{plan}")
        want = run(workers, sql)
        frame = pd.read_sql(sql, workers)
        got = pa.Table.from_pandas(frame, preserve_index=False)
        check(same(got, want), f"q{number}: pandas.read_sql {got} differs from pyarrow {want}")
        got = pl.read_database(sql, workers).to_arrow()
        check(same(got, want), f"q{number}: polars.read_database {got} differs from {want}")
    scores = pd.DataFrame({"id": [1, 2, 3], "name": ["a", None, "c"], "score": [1.5, 2.5, None]})
    check(scores.to_sql("scores", workers, index=False) == 3, "to_sql reports 3 rows")
    with workers.cursor() as cur:
        check(cur.adbc_ingest("scores2", scores, mode="create") == 3, "ingest of a DataFrame")
    for table in ("scores", "scores2"):
        back = pd.read_sql(f"SELECT * FROM {table} ORDER BY id", workers)
        check(
            back.astype(object).where(back.notna(), None).to_dict("list")
            == {"id": [1, 2, 3], "name": ["a", None, "c"], "score": [1.5, 2.5, None]},
            f"{table} holds the DataFrame's rows: {back}",
        )

    # Partitioned results: one part per task of the query's last stage, each read by its own
    # process straight from the worker; the parts' union is ExecuteQuery's rows. A part reads
    # once, and not after its statement was released.
    sql = "SELECT l_orderkey, l_linenumber, l_quantity FROM lineitem WHERE l_quantity > 45"
    key = lambda row: (row["l_orderkey"], row["l_linenumber"])
    # Rows as the children print them (JSON, decimals as text).
    want = sorted(json.loads(json.dumps(run(workers, sql).to_pylist(), default=str)), key=key)
    with workers.cursor() as cur:
        partitions, schema = cur.adbc_execute_partitions(sql)
        check(len(partitions) >= 2, f"one partition per task: {len(partitions)}")
        check(schema.names == ["l_orderkey", "l_linenumber", "l_quantity"], f"schema {schema}")
        outcomes = read_partitions(partitions)
        check(all(code == 0 for code, _, _ in outcomes), f"children read: {outcomes}")
        got = sorted((row for _, rows, _ in outcomes for row in rows), key=key)
        check(got == want, f"the partitions' union ({len(got)} rows) is the result ({len(want)})")
        [(code, _, said)] = read_partitions(partitions[:1])
        check(code == 3 and "already read" in said, f"a second read is refused: {said}")
    with workers.cursor() as cur:
        partitions, _ = cur.adbc_execute_partitions(sql)
    # The cursor's statement is released: its query ended on the workers.
    [(code, _, said)] = read_partitions(partitions[:1])
    check(code == 3 and "released" in said, f"a read after release is refused: {said}")
    with workers.cursor() as cur:
        error = expect_error(
            dbapi.NotSupportedError,
            "cannot be split",
            lambda: cur.adbc_execute_partitions("SELECT count(*) AS n FROM lineitem"),
        )

    # After a fork the child cannot use the parent's database (its workers belong to the
    # parent), and dropping the inherited handles there leaves the parent unharmed. (The child
    # does not open a database of its own here: a lock that a dfshm thread held at the fork stays
    # held in the child, so only fork-safe paths are tested.)
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            try:
                run(workers, "SELECT 1")
                code = 4
            except dbapi.Error as error:
                if "fork" in str(error):
                    workers.close()
                    code = 0
        finally:
            os._exit(code)
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        raise AssertionError("the forked child did not finish within 60 s")
    check(os.WEXITSTATUS(status) == 0, f"the forked child failed with {os.WEXITSTATUS(status)}")
    check(run(workers, "SELECT count(*) AS n FROM region").to_pylist() == [{"n": 5}], "parent")

    workers.close()
    in_process.close()
    print(f"ok {checks} checks")


if __name__ == "__main__":
    main()
