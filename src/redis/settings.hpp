#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace confidant::redis {

/// Settings of a Redis pool (and of the pub/sub subscriber). Names follow the seed's environment
/// variables; `src/config/` fills them in. Only plain TCP is supported (`redis://`, no TLS).
struct RedisSettings {
    /// `redis://[user:pass@]host:port/db` (REDIS_URL).
    std::string url = "redis://127.0.0.1:6379/0";
    /// Upper bound on open connections (REDIS_MAX_CONNECTIONS). Commands pipeline on the
    /// least-loaded connection, so reaching the bound never fails a caller.
    std::size_t max_connections = 50;
    /// Connections idle longer than this get a PING before reuse (REDIS_HEALTH_CHECK_INTERVAL).
    std::chrono::seconds health_check_interval{30};
    /// Retry a command that timed out (REDIS_RETRY_ON_TIMEOUT).
    bool retry_on_timeout = true;
    /// Retries after the first attempt (REDIS_RETRY_ATTEMPTS).
    int retry_attempts = 2;
    /// Backoff between retries after a timeout: min * 2^n clamped to max
    /// (REDIS_RETRY_MIN_WAIT, REDIS_RETRY_MAX_WAIT).
    std::chrono::milliseconds retry_min_wait{500};
    std::chrono::milliseconds retry_max_wait{2000};
    /// TCP connect (+ AUTH/SELECT) bound.
    std::chrono::milliseconds connect_timeout{1000};
    /// Bound on one command or pipeline round trip.
    std::chrono::milliseconds command_timeout{1000};
    /// Bound on waiting for a connection slot (only when every slot is still connecting).
    std::chrono::milliseconds acquire_timeout{1000};
    /// While Redis is down, a background probe (connect + PING) runs this often.
    std::chrono::milliseconds down_probe_interval{500};
};

}  // namespace confidant::redis
