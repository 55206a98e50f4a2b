#pragma once

#include <spdlog/spdlog.h>

#include <exception>
#include <string_view>

namespace confidant {

/// For `co_spawn` completion handlers: logs, once and as an error, the exception (if any) that
/// ended a detached coroutine, as "<what> failed: <message>".
inline void log_if_exception(std::string_view what, std::exception_ptr e) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("{} failed: {}", what, ex.what());
    } catch (...) {
        spdlog::error("{} failed with a non-standard exception", what);
    }
}

}  // namespace confidant
