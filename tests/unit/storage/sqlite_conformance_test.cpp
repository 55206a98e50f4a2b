#include "conformance/store_conformance.hpp"
#include "storage/sqlite/sqlite_database.hpp"
#include "temp_dir.hpp"

namespace confidant::storage::conformance {
namespace {

class SqliteBackend final : public StoreBackend {
  public:
    std::unique_ptr<Database> open() override {
        return std::make_unique<SqliteDatabase>(
            SqliteSettings{.path = (dir_.path() / "store.db").string(), .pool_threads = 4});
    }

  private:
    test_util::TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(StoreBackendParam{
                             "sqlite", [] { return std::make_unique<SqliteBackend>(); }}),
                         StoreBackendParam::name_of);

}  // namespace
}  // namespace confidant::storage::conformance
