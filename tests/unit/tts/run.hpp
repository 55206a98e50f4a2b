#pragma once

// Runs a coroutine to completion and returns its value (exceptions rethrown).

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <utility>

#include "core/task.hpp"

namespace confidant::tts::test {

/// On `ioc` (restarted first), until nothing else keeps it busy.
template <class T>
T run(boost::asio::io_context& ioc, Task<T> task) {
    std::optional<T> out;
    std::exception_ptr error;
    ioc.restart();
    boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T value) {
        error = e;
        if (!e) {
            out.emplace(std::move(value));
        }
    });
    ioc.run();
    if (error) {
        std::rethrow_exception(error);
    }
    return std::move(*out);
}

/// On a fresh io_context.
template <class T>
T run(Task<T> task) {
    boost::asio::io_context ioc;
    return run(ioc, std::move(task));
}

}  // namespace confidant::tts::test
