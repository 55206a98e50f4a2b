#include "storage/postgres/error.hpp"

namespace confidant::storage::pg {

const char* to_string(PgErrc code) noexcept {
    switch (code) {
        case PgErrc::connect_failed:
            return "connect_failed";
        case PgErrc::broken:
            return "broken";
        case PgErrc::timeout:
            return "timeout";
        case PgErrc::cancelled:
            return "cancelled";
        case PgErrc::closed:
            return "closed";
        case PgErrc::pool_timeout:
            return "pool_timeout";
        case PgErrc::unavailable:
            return "unavailable";
    }
    return "unknown";
}

confidant::Error to_error(const PgError& e) {
    return make_error(ErrorCode::not_ready,
                      std::string("database unavailable (") + to_string(e.code) + "): " + e.message,
                      1);
}

void throw_exception_from_error(const PgError& e, const boost::source_location&) {
    throw ErrorException(to_error(e));
}

}  // namespace confidant::storage::pg
