#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <utility>

#include "core/task.hpp"

namespace confidant::cache::testing {

/// Runs one coroutine to completion on a fresh single-threaded io_context (plus anything it
/// spawned there) and returns its result, rethrowing its exception.
template <class T>
T run_sync(Task<T> task) {
    boost::asio::io_context ioc;
    auto future = boost::asio::co_spawn(ioc, std::move(task), boost::asio::use_future);
    ioc.run();
    return future.get();
}

}  // namespace confidant::cache::testing
