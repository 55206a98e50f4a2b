#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstddef>

namespace confidant::http {

// Socket steps that do not wait. An Asio operation that could finish at once (the request is
// already there, the loopback handshake is already done) still goes through the I/O queue: its
// completion is posted, or waits for the reactor's next turn, behind every other ready handler;
// when thousands of connections arrive at the same moment that trip is what a request waits for.
// These do the step now; the caller falls back to the asynchronous operation when it would wait.

/// Receives what the socket already has, without waiting. Returns the bytes received; 0 with
/// `ec` clear when nothing is there yet; `ec` = eof when the peer closed, or the error.
inline std::size_t receive_now(boost::asio::ip::tcp::socket& socket,
                               boost::asio::mutable_buffer into, boost::system::error_code& ec) {
    for (;;) {
        const auto n = ::recv(socket.native_handle(), into.data(), into.size(), MSG_DONTWAIT);
        if (n > 0) {
            return static_cast<std::size_t>(n);
        }
        if (n == 0) {
            ec = boost::asio::error::eof;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            ec.assign(errno, boost::system::system_category());
        }
        return 0;
    }
}

/// The outcome of a connection that was under way once its socket turned writable.
inline boost::system::error_code connect_result(boost::asio::ip::tcp::socket& socket) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        error = errno;
    }
    return {error, boost::system::system_category()};
}

/// Opens `socket` for the endpoint and starts connecting it. Returns true when it is connected
/// by the time connect() returns (on loopback the kernel runs the whole handshake inside the
/// call); false with `ec` clear while the handshake is under way (wait until the socket is
/// writable, then ask connect_result); false with `ec` set when it failed.
inline bool connect_now(boost::asio::ip::tcp::socket& socket,
                        const boost::asio::ip::tcp::endpoint& endpoint,
                        boost::system::error_code& ec) {
    if (socket.is_open()) {
        socket.close(ec);
    }
    socket.open(endpoint.protocol(), ec);
    if (!ec) {
        socket.native_non_blocking(true, ec);  // what Asio does itself before an async connect
    }
    if (ec) {
        return false;
    }
    if (::connect(socket.native_handle(), endpoint.data(), endpoint.size()) == 0) {
        return true;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        ec.assign(errno, boost::system::system_category());
        return false;
    }
    pollfd p{socket.native_handle(), POLLOUT, 0};
    if (::poll(&p, 1, 0) != 1) {
        return false;  // still under way
    }
    ec = connect_result(socket);
    return !ec;
}

}  // namespace confidant::http
