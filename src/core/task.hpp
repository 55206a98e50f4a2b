#pragma once

#include <boost/asio/awaitable.hpp>

namespace confidant {

/// The one coroutine type of the project: every I/O function returns a Task.
template <class T = void>
using Task = boost::asio::awaitable<T>;

}  // namespace confidant
