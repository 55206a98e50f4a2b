#include "redis/error.hpp"

namespace confidant::redis {

const char* to_string(RedisErrc code) noexcept {
    switch (code) {
        case RedisErrc::down:
            return "redis_down";
        case RedisErrc::connect_failed:
            return "connect_failed";
        case RedisErrc::io:
            return "io";
        case RedisErrc::timeout:
            return "timeout";
        case RedisErrc::protocol:
            return "protocol";
        case RedisErrc::closed:
            return "closed";
        case RedisErrc::cancelled:
            return "cancelled";
    }
    return "unknown";
}

void throw_exception_from_error(const RedisError& e, const boost::source_location&) {
    throw ErrorException(to_error(e));
}

confidant::Error to_error(const RedisError& e) {
    return make_error(ErrorCode::not_ready,
                      std::string("redis ") + to_string(e.code) + ": " + e.message);
}

}  // namespace confidant::redis
