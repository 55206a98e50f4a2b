#pragma once

#include <cstddef>
#include <cstdint>

namespace confidant::http {

/// What the process's descriptors are spent on besides client connections.
struct DescriptorBudget {
    std::uint64_t file_limit = 0;  ///< RLIMIT_NOFILE (soft), after start-up raised it
    /// The server's own fixed needs: standard streams, listeners, epoll and event descriptors
    /// per I/O thread, database files, logs, and head-room for what a library opens.
    std::uint64_t reserved = 0;
    /// Pooled connections to the database and Redis (their configured maxima).
    std::uint64_t backend_connections = 0;
    /// Upstream model connections at most in flight (one per chat being answered); 0 when the
    /// provider needs none (offline).
    std::uint64_t upstream_max = 0;
};

/// The default MAX_CONNECTIONS: what is left of the file limit after the reserve and the
/// backend pools, less one upstream connection per client connection that may be waiting for
/// the model (at most `upstream_max` of them), so that a full house of clients never starves
/// the server of the descriptors its own database, Redis and model connections need:
///
///     rest = file_limit - reserved - backend_connections
///     max_connections = rest - min(upstream_max, rest / 2)
///
/// At least 1 (a limit too small for the reserve still lets the server answer someone).
inline std::size_t default_max_connections(const DescriptorBudget& b) {
    const std::uint64_t fixed = b.reserved + b.backend_connections;
    if (b.file_limit <= fixed + 1) {
        return 1;
    }
    const std::uint64_t rest = b.file_limit - fixed;
    const std::uint64_t upstream = b.upstream_max < rest / 2 ? b.upstream_max : rest / 2;
    const std::uint64_t n = rest - upstream;
    return static_cast<std::size_t>(n < 1 ? 1 : n);
}

}  // namespace confidant::http
