#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "http/client_address.hpp"

namespace confidant::http {

struct ServerSettings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;             ///< 0 = pick a free port (tests)
    std::size_t threads = 0;               ///< I/O threads; 0 = one per core
    std::size_t max_body_bytes = 1 << 20;  ///< MAX_BODY_BYTES; exactly the limit is accepted
    std::size_t max_header_bytes = 16 << 10;
    /// MAX_CONNECTIONS: client connections open at once; past it a new connection is accepted
    /// and closed at once (counted in `http_connections_refused_total`). 0 = no limit.
    std::size_t max_connections = 0;
    /// A request head must be complete within this of the moment it was awaited: the accept for
    /// a connection's first request, the first byte for the next ones on a kept-alive
    /// connection.
    std::chrono::seconds header_timeout{10};
    std::chrono::seconds body_timeout{30};   ///< the whole body, from the end of its head
    std::chrono::seconds idle_timeout{60};   ///< keep-alive wait for the next request
    std::chrono::seconds write_timeout{30};  ///< each write of an answer (each SSE chunk)
    std::chrono::seconds drain_timeout{10};  ///< graceful shutdown bound
    int backlog = 4096;
    /// TRUSTED_PROXIES: peers whose X-Forwarded-For names the client (`Request::client_address`).
    std::vector<AddressRange> trusted_proxies;
};

}  // namespace confidant::http
