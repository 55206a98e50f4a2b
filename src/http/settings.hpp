#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace confidant::http {

struct ServerSettings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;             ///< 0 = pick a free port (tests)
    std::size_t threads = 0;               ///< I/O threads; 0 = one per core
    std::size_t max_body_bytes = 1 << 20;  ///< MAX_BODY_BYTES; exactly the limit is accepted
    std::size_t max_header_bytes = 16 << 10;
    std::chrono::seconds header_timeout{10};  ///< a whole request head must arrive within this
    std::chrono::seconds body_timeout{30};
    std::chrono::seconds idle_timeout{60};  ///< keep-alive wait for the next request
    std::chrono::seconds write_timeout{30};
    std::chrono::seconds drain_timeout{10};  ///< graceful shutdown bound
    int backlog = 4096;
};

}  // namespace confidant::http
