/* A C host of the dfshm ADBC driver, compiled and run by ffi/tests/c_host.rs.
 *
 * It loads libdfshm_ffi with dlopen, as an ADBC driver manager does, and calls the driver through
 * the function table that AdbcDfshmFfiInit fills in: TPC-H DDL and a query over worker processes,
 * catalog calls, a cancel from a second thread, misuse (NULL handles, wrong order, a released
 * stream), and a stream read after every handle was released. It prints `key=value` lines that
 * the Rust test compares with in-process DataFusion, and exits 1 when a check failed.
 *
 * Compiled with -DDFSHM_STATIC and linked with libdfshm_ffi.a, it calls the entry point directly
 * (LIBRARY is then ignored, and DFSHM_WORKER names the worker executable).
 *
 * usage: host LIBRARY TPCH_DIR WORKERS Q1_FILE */

#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dfshm_adbc.h"

static struct AdbcDriver drv;
static int failures = 0;

#define EXPECT(cond, ...)                                          \
  do {                                                             \
    if (!(cond)) {                                                 \
      fprintf(stderr, "check failed at host.c:%d: ", __LINE__);    \
      fprintf(stderr, __VA_ARGS__);                                \
      fprintf(stderr, "\n");                                       \
      failures++;                                                  \
    }                                                              \
  } while (0)

static void reset(struct AdbcError* err) {
  if (err->release) err->release(err);
  struct AdbcError fresh = ADBC_ERROR_INIT;
  *err = fresh;
}

/* Stops the program when a call that must work does not. */
static void must(AdbcStatusCode code, struct AdbcError* err, const char* what) {
  if (code != ADBC_STATUS_OK) {
    fprintf(stderr, "%s failed with status %d: %s\n", what, code,
            err->message ? err->message : "(no message)");
    exit(1);
  }
  reset(err);
}

/* Checks that a call failed with `want` and a message containing `needle`. */
static void refused(AdbcStatusCode got, AdbcStatusCode want, struct AdbcError* err,
                    const char* needle, const char* what) {
  EXPECT(got == want, "%s: status %d, expected %d (%s)", what, got, want,
         err->message ? err->message : "no message");
  if (needle) {
    EXPECT(err->message && strstr(err->message, needle), "%s: message '%s' lacks '%s'", what,
           err->message ? err->message : "", needle);
  }
  reset(err);
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* text = calloc(1, (size_t)size + 1);
  if (fread(text, 1, (size_t)size, f) != (size_t)size) exit(1);
  fclose(f);
  return text;
}

/* Child processes of this process (the workers), from /proc. */
static int count_children(void) {
  DIR* proc = opendir("/proc");
  struct dirent* entry;
  int children = 0;
  while ((entry = readdir(proc))) {
    char path[300], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
    FILE* f = fopen(path, "r");
    if (!f) continue;
    if (fgets(line, sizeof line, f)) {
      char* after = strrchr(line, ')'); /* the command name may hold spaces */
      char state;
      int ppid;
      if (after && sscanf(after + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid() &&
          state != 'Z') {
        children++;
      }
    }
    fclose(f);
  }
  closedir(proc);
  return children;
}

/* Reads a stream to its end; returns the rows, or -1 on a stream error (message in `error`). */
static long long drain(struct ArrowArrayStream* stream, char* error, size_t error_size) {
  long long rows = 0;
  for (;;) {
    struct ArrowArray batch;
    memset(&batch, 0, sizeof batch);
    int rc = stream->get_next(stream, &batch);
    if (rc != 0) {
      const char* message = stream->get_last_error(stream);
      snprintf(error, error_size, "%s", message ? message : "(no message)");
      return -1;
    }
    if (!batch.release) return rows; /* end of stream */
    rows += batch.length;
    batch.release(&batch);
  }
}

static long long query_rows(struct AdbcStatement* stmt, const char* sql, int* columns) {
  struct AdbcError err = ADBC_ERROR_INIT;
  struct ArrowArrayStream out;
  memset(&out, 0, sizeof out);
  int64_t affected = 0;
  must(drv.StatementSetSqlQuery(stmt, sql, &err), &err, sql);
  must(drv.StatementExecuteQuery(stmt, &out, &affected, &err), &err, sql);
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  EXPECT(out.get_schema(&out, &schema) == 0, "get_schema of %s", sql);
  if (columns) *columns = (int)schema.n_children;
  if (schema.release) schema.release(&schema);
  char error[1024];
  long long rows = drain(&out, error, sizeof error);
  EXPECT(rows >= 0, "reading %s: %s", sql, error);
  out.release(&out);
  EXPECT(out.release == NULL, "a released stream is marked released");
  return rows;
}

struct cancel_job {
  struct AdbcStatement* stmt;
  AdbcStatusCode status;
};

static void* cancel_later(void* arg) {
  struct cancel_job* job = arg;
  struct timespec pause = {0, 300 * 1000 * 1000};
  nanosleep(&pause, NULL);
  struct AdbcError err = ADBC_ERROR_INIT;
  job->status = drv.StatementCancel(job->stmt, &err);
  reset(&err);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s LIBRARY TPCH_DIR WORKERS Q1_FILE\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* lines reach the test even if the host is killed */
  const char* library = argv[1];
  const char* tpch = argv[2];
  const char* workers = argv[3];
  struct AdbcError err = ADBC_ERROR_INIT;

#ifdef DFSHM_STATIC
  /* Linked with libdfshm_ffi.a: call the entry point directly. */
  (void)library;
  __typeof__(&AdbcDfshmFfiInit) init = AdbcDfshmFfiInit;
#else
  /* Load the driver as a driver manager does. The header's prototype must have ADBC's type. */
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  __typeof__(&AdbcDfshmFfiInit) init = NULL;
  *(void**)&init = dlsym(handle, "AdbcDfshmFfiInit");
  EXPECT(init != NULL, "AdbcDfshmFfiInit is exported");
  EXPECT(dlsym(handle, "AdbcDriverInit") != NULL, "AdbcDriverInit is exported");
  if (!init) return 1;
#endif
  AdbcDriverInitFunc as_adbc = init;
  (void)as_adbc;

  memset(&drv, 0, sizeof drv);
  refused(init(ADBC_VERSION_1_0_0, &drv, &err), ADBC_STATUS_NOT_IMPLEMENTED, &err, "1.1.0",
          "init with ADBC 1.0.0");
  refused(init(ADBC_VERSION_1_1_0, NULL, &err), ADBC_STATUS_INVALID_ARGUMENT, &err, "NULL",
          "init with a NULL driver");
  must(init(ADBC_VERSION_1_1_0, &drv, &err), &err, "AdbcDfshmFfiInit");

  /* Bad options fail DatabaseInit with a message naming the good ones. */
  struct AdbcDatabase bad;
  memset(&bad, 0, sizeof bad);
  must(drv.DatabaseNew(&bad, &err), &err, "DatabaseNew");
  must(drv.DatabaseSetOption(&bad, "dfshm.wrokers", "2", &err), &err, "SetOption (stored)");
  refused(drv.DatabaseInit(&bad, &err), ADBC_STATUS_NOT_IMPLEMENTED, &err, "dfshm.workers",
          "an unknown option");
  drv.DatabaseRelease(&bad, &err);
  reset(&err);
  memset(&bad, 0, sizeof bad);
  must(drv.DatabaseNew(&bad, &err), &err, "DatabaseNew");
  must(drv.DatabaseSetOption(&bad, "dfshm.workers", "many", &err), &err, "SetOption (stored)");
  refused(drv.DatabaseInit(&bad, &err), ADBC_STATUS_INVALID_ARGUMENT, &err, "whole number",
          "a bad worker count");
  drv.DatabaseRelease(&bad, &err);
  reset(&err);

  /* The database, over worker processes. */
  struct AdbcDatabase db;
  memset(&db, 0, sizeof db);
  must(drv.DatabaseNew(&db, &err), &err, "DatabaseNew");
  must(drv.DatabaseSetOption(&db, "dfshm.workers", workers, &err), &err, "dfshm.workers");
  must(drv.DatabaseInit(&db, &err), &err, "DatabaseInit");
  EXPECT(drv.DatabaseInit(&db, &err) != ADBC_STATUS_OK, "DatabaseInit twice is refused");
  reset(&err);
  refused(drv.DatabaseSetOption(&db, "dfshm.workers", "3", &err), ADBC_STATUS_INVALID_STATE,
          &err, "before AdbcDatabaseInit", "dfshm.workers after init");
  printf("children=%d\n", count_children());

  struct AdbcConnection conn;
  memset(&conn, 0, sizeof conn);
  must(drv.ConnectionNew(&conn, &err), &err, "ConnectionNew");
  struct AdbcStatement early;
  memset(&early, 0, sizeof early);
  EXPECT(drv.StatementNew(&conn, &early, &err) != ADBC_STATUS_OK,
         "StatementNew before ConnectionInit is refused");
  reset(&err);
  must(drv.ConnectionInit(&conn, &db, &err), &err, "ConnectionInit");

  struct AdbcStatement stmt;
  memset(&stmt, 0, sizeof stmt);
  must(drv.StatementNew(&conn, &stmt, &err), &err, "StatementNew");
  struct ArrowArrayStream out;
  memset(&out, 0, sizeof out);
  int64_t affected = 0;
  refused(drv.StatementExecuteQuery(&stmt, &out, &affected, &err), ADBC_STATUS_INVALID_STATE,
          &err, "SetSqlQuery", "ExecuteQuery before SetSqlQuery");
  must(drv.StatementSetSqlQuery(&stmt, "SELEC 1", &err), &err, "SetSqlQuery");
  AdbcStatusCode parse = drv.StatementExecuteQuery(&stmt, &out, &affected, &err);
  EXPECT(parse == ADBC_STATUS_INVALID_ARGUMENT, "bad SQL: status %d", parse);
  EXPECT(memcmp(err.sqlstate, "42601", 5) == 0, "bad SQL: SQLSTATE %.5s", err.sqlstate);
  EXPECT(err.message && strstr(err.message, "SELEC"), "bad SQL: message %s", err.message);
  reset(&err);

  /* DDL through ExecuteQuery with no output stream (ADBC's ExecuteUpdate). */
  const char* tables[] = {"nation", "region", "part", "supplier",
                          "partsupp", "customer", "orders", "lineitem"};
  for (int i = 0; i < 8; i++) {
    char ddl[4096];
    snprintf(ddl, sizeof ddl, "CREATE EXTERNAL TABLE %s STORED AS PARQUET LOCATION '%s/%s/'",
             tables[i], tpch, tables[i]);
    must(drv.StatementSetSqlQuery(&stmt, ddl, &err), &err, "SetSqlQuery (DDL)");
    must(drv.StatementExecuteQuery(&stmt, NULL, &affected, &err), &err, ddl);
    EXPECT(affected == -1, "DDL affects an unknown number of rows, not %lld", (long long)affected);
  }
  must(drv.StatementSetSqlQuery(&stmt, "CREATE TABLE numbers (n BIGINT)", &err), &err, "DDL");
  must(drv.StatementExecuteQuery(&stmt, NULL, &affected, &err), &err, "CREATE TABLE");
  must(drv.StatementSetSqlQuery(&stmt, "INSERT INTO numbers VALUES (1), (2), (3)", &err), &err,
       "DML");
  must(drv.StatementExecuteQuery(&stmt, NULL, &affected, &err), &err, "INSERT");
  printf("inserted=%lld\n", (long long)affected);

  int columns = 0;
  char* q1 = read_file(argv[4]);
  long long q1_rows = query_rows(&stmt, q1, &columns);
  printf("q1_rows=%lld\nq1_columns=%d\n", q1_rows, columns);
  printf("lineitem_rows=%lld\n", query_rows(&stmt, "SELECT l_orderkey FROM lineitem", NULL));

  /* Catalog calls. */
  struct ArrowSchema table_schema;
  memset(&table_schema, 0, sizeof table_schema);
  must(drv.ConnectionGetTableSchema(&conn, NULL, NULL, "lineitem", &table_schema, &err), &err,
       "GetTableSchema");
  printf("lineitem_columns=%lld\n", (long long)table_schema.n_children);
  table_schema.release(&table_schema);
  refused(drv.ConnectionGetTableSchema(&conn, NULL, NULL, "no_such_table", &table_schema, &err),
          ADBC_STATUS_NOT_FOUND, &err, "no_such_table", "GetTableSchema of a missing table");
  struct ArrowArrayStream objects;
  memset(&objects, 0, sizeof objects);
  must(drv.ConnectionGetObjects(&conn, ADBC_OBJECT_DEPTH_ALL, NULL, NULL, "line%", NULL, NULL,
                                &objects, &err),
       &err, "GetObjects");
  char error[1024];
  printf("objects_catalogs=%lld\n", drain(&objects, error, sizeof error));
  objects.release(&objects);
  struct ArrowArrayStream info;
  memset(&info, 0, sizeof info);
  must(drv.ConnectionGetInfo(&conn, NULL, 0, &info, &err), &err, "GetInfo");
  printf("info_rows=%lld\n", drain(&info, error, sizeof error));
  info.release(&info);

  /* Cancel a long query from a second thread while this one reads its stream. */
  struct AdbcStatement slow;
  memset(&slow, 0, sizeof slow);
  must(drv.StatementNew(&conn, &slow, &err), &err, "StatementNew");
  must(drv.StatementSetSqlQuery(&slow,
                                "SELECT count(*) FROM lineitem a JOIN lineitem b "
                                "ON a.l_linenumber = b.l_linenumber",
                                &err),
       &err, "SetSqlQuery (slow)");
  struct ArrowArrayStream long_stream;
  memset(&long_stream, 0, sizeof long_stream);
  must(drv.StatementExecuteQuery(&slow, &long_stream, &affected, &err), &err, "slow query");
  struct cancel_job job = {&slow, 255};
  pthread_t canceller;
  pthread_create(&canceller, NULL, cancel_later, &job);
  long long slow_rows = drain(&long_stream, error, sizeof error);
  pthread_join(canceller, NULL);
  EXPECT(job.status == ADBC_STATUS_OK, "StatementCancel: status %d", job.status);
  EXPECT(slow_rows == -1, "the cancelled query ended with an error, not %lld rows", slow_rows);
  EXPECT(strstr(error, "cancel") != NULL, "the stream error says cancelled: %s", error);
  printf("cancelled=%s\n", slow_rows == -1 && strstr(error, "cancel") ? "yes" : "no");
  long_stream.release(&long_stream);
  printf("after_cancel_rows=%lld\n", query_rows(&slow, "SELECT 1 AS one", NULL));
  must(drv.StatementRelease(&slow, &err), &err, "StatementRelease");

  /* Misuse: NULL handles, a double release. */
  EXPECT(drv.StatementSetSqlQuery(NULL, "SELECT 1", &err) != ADBC_STATUS_OK,
         "a NULL statement is refused");
  reset(&err);
  EXPECT(drv.ConnectionGetInfo(NULL, NULL, 0, &info, &err) != ADBC_STATUS_OK,
         "a NULL connection is refused");
  reset(&err);
  EXPECT(drv.StatementExecuteQuery(NULL, &out, NULL, NULL) != ADBC_STATUS_OK,
         "a NULL statement with a NULL error pointer is refused");

  /* A stream outlives its statement, connection and database. */
  struct ArrowArrayStream kept;
  memset(&kept, 0, sizeof kept);
  must(drv.StatementSetSqlQuery(&stmt, "SELECT l_orderkey FROM lineitem", &err), &err, "kept");
  must(drv.StatementExecuteQuery(&stmt, &kept, &affected, &err), &err, "kept");
  must(drv.StatementRelease(&stmt, &err), &err, "StatementRelease");
  EXPECT(drv.StatementRelease(&stmt, &err) != ADBC_STATUS_OK, "a second release is refused");
  reset(&err);
  must(drv.ConnectionRelease(&conn, &err), &err, "ConnectionRelease");
  must(drv.DatabaseRelease(&db, &err), &err, "DatabaseRelease");
  printf("kept_rows=%lld\n", drain(&kept, error, sizeof error));
  kept.release(&kept);

  /* The last handle is gone: the workers stop. */
  int children = count_children();
  for (int i = 0; i < 100 && children > 0; i++) {
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    children = count_children();
  }
  printf("children_after=%d\n", children);
  if (drv.release) drv.release(&drv, &err);
  reset(&err);
  free(q1);
  printf("failures=%d\n", failures);
  return failures ? 1 : 0;
}
