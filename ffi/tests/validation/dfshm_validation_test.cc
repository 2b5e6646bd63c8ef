// ADBC's validation suite (vendor/c/validation) run against libdfshm_ffi, loaded by path
// through ADBC's own C++ driver manager (vendor/c/driver_manager), as a host would load it.
//
// Environment:
//   DFSHM_ADBC_DRIVER   the path of libdfshm_ffi.so (required)
//   DFSHM_ADBC_WORKERS  worker processes of each database (default 2: the suite runs its SQL
//                       where dfshm's users do, on workers)
//
// `DfshmQuirks` says what dfshm legitimately does differently from the suite's defaults; each
// override carries its reason. A case whose expectation the quirks cannot express is left out
// by `main`'s filter, with its reason there, and replaced by a dfshm test of what dfshm does
// instead. Everything else the suite checks must pass.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arrow-adbc/adbc.h>
#include <gtest/gtest.h>
#include <nanoarrow/nanoarrow.h>

#include "validation/adbc_validation.h"
#include "validation/adbc_validation_util.h"

namespace {

std::string Env(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

AdbcStatusCode RunSql(struct AdbcConnection* connection, const std::string& sql,
                      struct AdbcError* error) {
  adbc_validation::Handle<struct AdbcStatement> statement;
  RAISE_ADBC(AdbcStatementNew(connection, &statement.value, error));
  RAISE_ADBC(AdbcStatementSetSqlQuery(&statement.value, sql.c_str(), error));
  RAISE_ADBC(AdbcStatementExecuteQuery(&statement.value, nullptr, nullptr, error));
  return AdbcStatementRelease(&statement.value, error);
}

class DfshmQuirks : public adbc_validation::DriverQuirks {
 public:
  AdbcStatusCode SetupDatabase(struct AdbcDatabase* database,
                               struct AdbcError* error) const override {
    const std::string driver = Env("DFSHM_ADBC_DRIVER", "");
    if (driver.empty()) {
      ADD_FAILURE() << "set DFSHM_ADBC_DRIVER to the path of libdfshm_ffi.so";
      return ADBC_STATUS_INVALID_ARGUMENT;
    }
    RAISE_ADBC(AdbcDatabaseSetOption(database, "driver", driver.c_str(), error));
    const std::string workers = Env("DFSHM_ADBC_WORKERS", "2");
    return AdbcDatabaseSetOption(database, "dfshm.workers", workers.c_str(), error);
  }

  AdbcStatusCode DropTable(struct AdbcConnection* connection, const std::string& name,
                           struct AdbcError* error) const override {
    return RunSql(connection, "DROP TABLE IF EXISTS " + QuoteIdentifier(name), error);
  }

  AdbcStatusCode DropTable(struct AdbcConnection* connection, const std::string& name,
                           const std::string& db_schema,
                           struct AdbcError* error) const override {
    return RunSql(connection,
                  "DROP TABLE IF EXISTS " + QuoteIdentifier(db_schema) + "." +
                      QuoteIdentifier(name),
                  error);
  }

  AdbcStatusCode EnsureDbSchema(struct AdbcConnection* connection, const std::string& name,
                                struct AdbcError* error) const override {
    return RunSql(connection, "CREATE SCHEMA IF NOT EXISTS " + QuoteIdentifier(name), error);
  }

  AdbcStatusCode DropView(struct AdbcConnection* connection, const std::string& name,
                          struct AdbcError* error) const override {
    return RunSql(connection, "DROP VIEW IF EXISTS " + QuoteIdentifier(name), error);
  }

  // DataFusion's placeholders are `$1`, `$2`, ...
  std::string BindParameter(int index) const override {
    return "$" + std::to_string(index + 1);
  }

  // dfshm has no transactions: every statement takes effect at once (autocommit only).
  bool supports_transactions() const override { return false; }

  // One connection runs any number of statements at once: each is its own DataFusion stream.
  bool supports_concurrent_statements() const override { return true; }
  bool supports_execute_schema() const override { return true; }
  bool supports_cancel() const override { return true; }
  bool supports_get_option() const override { return true; }
  bool supports_metadata_current_catalog() const override { return true; }
  bool supports_metadata_current_db_schema() const override { return true; }

  // Tables live in DataFusion's catalog of the database, which has no temporary tables.
  // Ingest may name a catalog and a schema (adbc.ingest.target_catalog, _db_schema).
  bool supports_bulk_ingest_temporary() const override { return false; }
  bool supports_bulk_ingest_catalog() const override { return true; }
  bool supports_bulk_ingest_db_schema() const override { return true; }

  // DataFusion has no statistics API to report through ADBC.
  bool supports_statistics() const override { return false; }

  std::optional<adbc_validation::SqlInfoValue> supports_get_sql_info(
      uint32_t info_code) const override {
    switch (info_code) {
      case ADBC_INFO_DRIVER_NAME:
        return "dfshm ADBC driver";
      case ADBC_INFO_VENDOR_NAME:
        return "dfshm";
      case ADBC_INFO_DRIVER_ADBC_VERSION:
        return ADBC_VERSION_1_1_0;
      default:
        return std::nullopt;
    }
  }

  std::string catalog() const override { return "datafusion"; }
  std::string db_schema() const override { return "public"; }
};

// The suites' fixtures: a gtest fixture over one of the suite's test classes, with dfshm's quirks.
template <typename Suite>
class DfshmFixture : public ::testing::Test, public Suite {
 public:
  const adbc_validation::DriverQuirks* quirks() const override { return &quirks_; }
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(this->SetUpTest()); }
  void TearDown() override { ASSERT_NO_FATAL_FAILURE(this->TearDownTest()); }

 protected:
  DfshmQuirks quirks_;
};

using DfshmDatabaseTest = DfshmFixture<adbc_validation::DatabaseTest>;
ADBCV_TEST_DATABASE(DfshmDatabaseTest)

using DfshmConnectionTest = DfshmFixture<adbc_validation::ConnectionTest>;
ADBCV_TEST_CONNECTION(DfshmConnectionTest)

class DfshmStatementTest : public DfshmFixture<adbc_validation::StatementTest> {
 public:
  // Ingested temporal columns keep their Arrow type, unit and time zone (they are Arrow arrays
  // in DataFusion's memory table), so the values read back are the ones ingested.
  void ValidateIngestedTemporalData(struct ArrowArrayView* values, ArrowType type,
                                    enum ArrowTimeUnit unit,
                                    const char* timezone) override {
    ASSERT_NO_FATAL_FAILURE(adbc_validation::CompareArray<int64_t>(
        values, {std::nullopt, -42, 0, 42}));
  }
};
ADBCV_TEST_STATEMENT(DfshmStatementTest)

// Replaces the suite's SqlIngestStringDictionary, which expects a dictionary-encoded column to
// come back as plain strings (as databases that store text do). dfshm keeps what it ingests as
// Arrow arrays, so the column comes back dictionary-encoded, with the same values.
TEST_F(DfshmStatementTest, SqlIngestStringDictionaryKeepsItsEncoding) {
  const std::vector<std::optional<std::string>> values = {"", "", "1234", "例"};
  ASSERT_THAT(quirks()->DropTable(&connection, "bulk_ingest", &error),
              adbc_validation::IsOkStatus(&error));

  // A dictionary<int32, utf8> column with indices 0..n over the values.
  adbc_validation::Handle<struct ArrowSchema> schema;
  adbc_validation::Handle<struct ArrowArray> array;
  struct ArrowError na_error;
  ASSERT_THAT(adbc_validation::MakeSchema(&schema.value, {{"col", NANOARROW_TYPE_STRING}}),
              adbc_validation::IsOkErrno());
  ASSERT_THAT(adbc_validation::MakeBatch<std::string>(&schema.value, &array.value,
                                                      &na_error, values),
              adbc_validation::IsOkErrno());
  adbc_validation::Handle<struct ArrowSchema> dict_schema;
  ASSERT_THAT(ArrowSchemaInitFromType(&dict_schema.value, NANOARROW_TYPE_INT32),
              adbc_validation::IsOkErrno());
  ASSERT_THAT(ArrowSchemaSetName(&dict_schema.value, "col"), adbc_validation::IsOkErrno());
  ASSERT_THAT(ArrowSchemaSetName(schema.value.children[0], nullptr),
              adbc_validation::IsOkErrno());
  ASSERT_THAT(ArrowSchemaAllocateDictionary(&dict_schema.value),
              adbc_validation::IsOkErrno());
  ArrowSchemaMove(schema.value.children[0], dict_schema.value.dictionary);
  ArrowSchemaMove(&dict_schema.value, schema.value.children[0]);
  adbc_validation::Handle<struct ArrowArray> dict_array;
  ASSERT_THAT(ArrowArrayInitFromType(&dict_array.value, NANOARROW_TYPE_INT32),
              adbc_validation::IsOkErrno());
  ASSERT_THAT(ArrowArrayStartAppending(&dict_array.value), adbc_validation::IsOkErrno());
  for (size_t i = 0; i < values.size(); i++) {
    ASSERT_THAT(ArrowArrayAppendInt(&dict_array.value, static_cast<int64_t>(i)),
                adbc_validation::IsOkErrno());
  }
  ASSERT_THAT(ArrowArrayFinishBuildingDefault(&dict_array.value, nullptr),
              adbc_validation::IsOkErrno());
  ASSERT_THAT(ArrowArrayAllocateDictionary(&dict_array.value), adbc_validation::IsOkErrno());
  ArrowArrayMove(array.value.children[0], dict_array.value.dictionary);
  ArrowArrayMove(&dict_array.value, array.value.children[0]);

  ASSERT_THAT(AdbcStatementNew(&connection, &statement, &error),
              adbc_validation::IsOkStatus(&error));
  ASSERT_THAT(AdbcStatementSetOption(&statement, ADBC_INGEST_OPTION_TARGET_TABLE,
                                     "bulk_ingest", &error),
              adbc_validation::IsOkStatus(&error));
  ASSERT_THAT(AdbcStatementBind(&statement, &array.value, &schema.value, &error),
              adbc_validation::IsOkStatus(&error));
  int64_t rows_affected = 0;
  ASSERT_THAT(AdbcStatementExecuteQuery(&statement, nullptr, &rows_affected, &error),
              adbc_validation::IsOkStatus(&error));
  ASSERT_EQ(static_cast<int64_t>(values.size()), rows_affected);

  ASSERT_THAT(AdbcStatementSetSqlQuery(&statement, "SELECT * FROM bulk_ingest", &error),
              adbc_validation::IsOkStatus(&error));
  adbc_validation::StreamReader reader;
  ASSERT_THAT(AdbcStatementExecuteQuery(&statement, &reader.stream.value,
                                        &reader.rows_affected, &error),
              adbc_validation::IsOkStatus(&error));
  ASSERT_NO_FATAL_FAILURE(reader.GetSchema());
  ASSERT_EQ(NANOARROW_TYPE_DICTIONARY, reader.fields[0].type);
  ASSERT_NO_FATAL_FAILURE(reader.Next());
  ASSERT_NE(nullptr, reader.array->release);
  ASSERT_EQ(static_cast<int64_t>(values.size()), reader.array->length);
  struct ArrowArrayView* column = reader.array_view->children[0];
  ASSERT_NE(nullptr, column->dictionary);
  std::vector<std::optional<std::string>> read;
  for (int64_t row = 0; row < column->length; row++) {
    ASSERT_FALSE(ArrowArrayViewIsNull(column, row));
    const int64_t index = ArrowArrayViewGetIntUnsafe(column, row);
    const ArrowStringView text = ArrowArrayViewGetStringUnsafe(column->dictionary, index);
    read.emplace_back(std::string(text.data, static_cast<size_t>(text.size_bytes)));
  }
  std::sort(read.begin(), read.end());
  ASSERT_EQ(values, read);
  ASSERT_NO_FATAL_FAILURE(reader.Next());
  ASSERT_EQ(nullptr, reader.array->release);
}

}  // namespace

// The processes this one has started and not yet reaped (its worker processes).
std::vector<std::string> LiveChildren() {
  std::vector<std::string> children;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream file(task.path() / "children");
    std::string pid;
    while (file >> pid) children.push_back(pid);
  }
  return children;
}

// The suite's cases, less those dfshm answers differently on purpose (each replaced above):
//   SqlIngestStringDictionary: see SqlIngestStringDictionaryKeepsItsEncoding.
// A --gtest_filter on the command line replaces this one. After the cases, every database the
// suite created has been released, so no worker process may be left.
int main(int argc, char** argv) {
  GTEST_FLAG_SET(filter, "-DfshmStatementTest.SqlIngestStringDictionary");
  ::testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  // A released database stops its workers; give them a moment to exit and be reaped.
  std::vector<std::string> children = LiveChildren();
  for (int wait = 0; wait < 100 && !children.empty(); wait++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    children = LiveChildren();
  }
  if (!children.empty()) {
    std::cerr << "worker processes left after every database was released:";
    for (const auto& pid : children) std::cerr << " " << pid;
    std::cerr << std::endl;
    return 1;
  }
  return result;
}
