#pragma once

// Runs a coroutine to completion on a fresh io_context and returns its value.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <utility>

#include "core/task.hpp"

namespace confidant::tts::test {

template <class T>
T run(Task<T> task) {
    boost::asio::io_context ioc;
    std::optional<T> out;
    std::exception_ptr error;
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

}  // namespace confidant::tts::test
