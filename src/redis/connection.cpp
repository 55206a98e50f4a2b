#include "redis/connection.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/log_exception.hpp"

namespace confidant::redis {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

redisReader* as_reader(void* p) { return static_cast<redisReader*>(p); }

Reply convert(const redisReply* r) {
    switch (r->type) {
        case REDIS_REPLY_STRING:
            return Reply::make_string(std::string(r->str, r->len));
        case REDIS_REPLY_STATUS:
            return Reply::make_status(std::string(r->str, r->len));
        case REDIS_REPLY_ERROR:
            return Reply::make_error(std::string(r->str, r->len));
        case REDIS_REPLY_INTEGER:
            return Reply::make_integer(r->integer);
        case REDIS_REPLY_ARRAY: {
            std::vector<Reply> elements;
            elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i) {
                elements.push_back(convert(r->element[i]));
            }
            return Reply::make_array(std::move(elements));
        }
        default:
            return Reply::make_nil();
    }
}

bool is_push_message(const Reply& r) {
    if (!r.is_array() || r.elements().size() < 3 || !r.elements()[0].is_string()) {
        return false;
    }
    const auto& kind = r.elements()[0].str();
    return (kind == "message" && r.elements().size() == 3) ||
           (kind == "pmessage" && r.elements().size() == 4);
}

}  // namespace

struct Connection::Request {
    explicit Request(const asio::strand<Executor>& s) : timer(s) {}
    std::size_t expected = 0;
    std::vector<Reply> replies;
    std::optional<RedisError> error;
    bool done = false;
    asio::steady_timer timer;
};

Connection::Connection(Private, Executor ex, ConnectionOptions options)
    : strand_(asio::make_strand(ex)),
      socket_(strand_),
      options_(std::move(options)),
      reader_(redisReaderCreate()),
      broken_waiter_(strand_) {
    if (reader_ == nullptr) {
        throw std::bad_alloc();
    }
    touch();
}

Connection::~Connection() {
    if (reader_ != nullptr) {
        redisReaderFree(as_reader(reader_));
    }
}

std::chrono::steady_clock::time_point Connection::last_used() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(last_used_ns_.load(std::memory_order_relaxed)));
}

void Connection::touch() noexcept {
    last_used_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count(),
                        std::memory_order_relaxed);
}

Task<RedisResult<std::shared_ptr<Connection>>> Connection::open(Executor ex, Url url,
                                                                ConnectionOptions options) {
    auto conn = std::make_shared<Connection>(Private{}, ex, std::move(options));
    auto r = co_await asio::co_spawn(conn->strand_, conn->do_connect(conn, std::move(url)),
                                     asio::use_awaitable);
    if (!r) {
        conn->close();
        co_return r.error();
    }
    co_return conn;
}

Task<RedisResult<void>> Connection::do_connect(std::shared_ptr<Connection> self, Url url) {
    // A watchdog rather than a raced awaitable: it also bounds the resolver, whose operations
    // do not support per-operation cancellation. `phase_done` keeps a late expiry from closing
    // a socket that has connected meanwhile (everything here runs on the strand).
    struct Watch {
        explicit Watch(const asio::strand<Executor>& s) : resolver(s) {}
        tcp::resolver resolver;
        bool phase_done = false;
        bool timed_out = false;
    };
    auto watch = std::make_shared<Watch>(strand_);
    asio::steady_timer watchdog(strand_);
    watchdog.expires_after(options_.connect_timeout);
    watchdog.async_wait([watch, self](boost::system::error_code ec) {
        if (!ec && !watch->phase_done) {
            watch->timed_out = true;
            watch->resolver.cancel();
            boost::system::error_code ignored;
            self->socket_.close(ignored);
        }
    });
    const auto timeout_ms = options_.connect_timeout.count();
    auto target = url.host + ":" + std::to_string(url.port);

    auto [rec, endpoints] =
        co_await watch->resolver.async_resolve(url.host, std::to_string(url.port), kTuple);
    if (rec || watch->timed_out) {
        watch->phase_done = true;
        watchdog.cancel();
        co_return RedisError{RedisErrc::connect_failed,
                             watch->timed_out ? "resolving " + target + " timed out after " +
                                                    std::to_string(timeout_ms) + " ms"
                                              : "resolving " + target + ": " + rec.message()};
    }
    auto [cec, ep] = co_await asio::async_connect(socket_, endpoints, kTuple);
    watch->phase_done = true;
    watchdog.cancel();
    if (cec || watch->timed_out) {
        co_return RedisError{RedisErrc::connect_failed,
                             watch->timed_out ? "connecting to " + target + " timed out after " +
                                                    std::to_string(timeout_ms) + " ms"
                                              : "connecting to " + target + ": " + cec.message()};
    }
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    socket_.set_option(asio::socket_base::keep_alive(true), ignored);

    asio::co_spawn(strand_, read_loop(self),
                   [](std::exception_ptr e) { log_if_exception("redis: read loop", e); });

    std::string hello;
    std::size_t replies = 0;
    if (!url.password.empty()) {
        if (url.user.empty()) {
            encode_command({"AUTH", url.password}, hello);
        } else {
            encode_command({"AUTH", url.user, url.password}, hello);
        }
        ++replies;
    }
    if (url.db != 0) {
        encode_command({"SELECT", std::to_string(url.db)}, hello);
        ++replies;
    }
    if (replies > 0) {
        auto r = co_await submit(self, std::move(hello), replies);
        if (!r) {
            co_return RedisError{RedisErrc::connect_failed,
                                 "AUTH/SELECT on " + target + ": " + r.error().message};
        }
        for (const auto& reply : *r) {
            if (reply.is_error()) {
                fail(RedisErrc::closed, "AUTH/SELECT refused");
                co_return RedisError{RedisErrc::connect_failed,
                                     "AUTH/SELECT on " + target + ": " + reply.str()};
            }
        }
    }
    co_return RedisResult<void>{};
}

Task<RedisResult<Reply>> Connection::command(std::vector<std::string> args) {
    std::string payload;
    encode_command(args, payload);
    auto r = co_await send_encoded(std::move(payload), 1);
    if (!r) {
        co_return r.error();
    }
    co_return std::move(r->front());
}

Task<RedisResult<std::vector<Reply>>> Connection::pipeline(
    std::vector<std::vector<std::string>> commands) {
    std::string payload;
    for (const auto& c : commands) {
        encode_command(c, payload);
    }
    co_return co_await send_encoded(std::move(payload), commands.size());
}

Task<RedisResult<std::vector<Reply>>> Connection::send_encoded(std::string payload,
                                                               std::size_t replies) {
    if (replies == 0) {
        co_return std::vector<Reply>{};
    }
    auto self = shared_from_this();
    co_return co_await asio::co_spawn(strand_, submit(self, std::move(payload), replies),
                                      asio::use_awaitable);
}

Task<RedisResult<std::vector<Reply>>> Connection::submit(std::shared_ptr<Connection> self,
                                                         std::string payload, std::size_t replies) {
    // Runs on the strand.
    if (broken_.load(std::memory_order_relaxed)) {
        co_return RedisError{RedisErrc::io, "connection is broken"};
    }
    auto req = std::make_shared<Request>(strand_);
    req->expected = replies;
    req->replies.reserve(replies);
    outbox_ += payload;
    awaiting_.push_back(req);
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    touch();
    if (!writing_) {
        writing_ = true;
        asio::co_spawn(strand_, write_loop(self),
                       [](std::exception_ptr e) { log_if_exception("redis: write loop", e); });
    }

    // The timer is both the timeout and the completion signal: deliver()/fail() set `done`
    // and cancel it.
    req->timer.expires_after(options_.command_timeout);
    auto [ec] = co_await req->timer.async_wait(kTuple);
    if (req->done) {
        if (req->error) {
            co_return *req->error;
        }
        co_return std::move(req->replies);
    }
    if (!ec) {
        fail(RedisErrc::io, "connection dropped: a command timed out after " +
                                std::to_string(options_.command_timeout.count()) + " ms");
        co_return RedisError{
            RedisErrc::timeout,
            "no reply within " + std::to_string(options_.command_timeout.count()) + " ms"};
    }
    // The caller was cancelled. The request stays queued so the FIFO stays aligned; its
    // replies are dropped when they arrive.
    co_return RedisError{RedisErrc::cancelled, "cancelled"};
}

Task<void> Connection::write_loop(std::shared_ptr<Connection> self) {
    std::string buffer;
    while (!outbox_.empty() && !broken_.load(std::memory_order_relaxed)) {
        buffer.clear();
        std::swap(buffer, outbox_);
        auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(buffer), kTuple);
        if (ec) {
            fail(RedisErrc::io, "write: " + ec.message());
            break;
        }
    }
    writing_ = false;
}

Task<void> Connection::read_loop(std::shared_ptr<Connection> self) {
    std::array<char, 16 * 1024> buf;
    for (;;) {
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), kTuple);
        if (ec) {
            fail(RedisErrc::io, ec == asio::error::eof ? std::string("server closed the connection")
                                                       : "read: " + ec.message());
            co_return;
        }
        if (broken_.load(std::memory_order_relaxed)) {
            co_return;
        }
        auto* reader = as_reader(reader_);
        if (redisReaderFeed(reader, buf.data(), n) != REDIS_OK) {
            fail(RedisErrc::protocol, std::string("protocol error: ") + reader->errstr);
            co_return;
        }
        for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
                fail(RedisErrc::protocol, std::string("protocol error: ") + reader->errstr);
                co_return;
            }
            if (raw == nullptr) {
                break;
            }
            Reply reply = convert(static_cast<const redisReply*>(raw));
            freeReplyObject(raw);
            deliver(std::move(reply));
            if (broken_.load(std::memory_order_relaxed)) {
                co_return;
            }
        }
    }
}

void Connection::deliver(Reply reply) {
    touch();
    if (options_.on_push && is_push_message(reply)) {
        options_.on_push(std::move(reply));
        return;
    }
    if (awaiting_.empty()) {
        fail(RedisErrc::protocol, "reply without a request: " + reply.to_debug_string());
        return;
    }
    auto& req = awaiting_.front();
    req->replies.push_back(std::move(reply));
    if (req->replies.size() == req->expected) {
        auto done = std::move(awaiting_.front());
        awaiting_.pop_front();
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        done->done = true;
        done->timer.cancel();
    }
}

void Connection::fail(RedisErrc code, const std::string& message) {
    // On the strand. The first failure wins; later ones (the read loop seeing the closed
    // socket) change nothing.
    if (broken_.exchange(true, std::memory_order_acq_rel)) {
        return;
    }
    boost::system::error_code ignored;
    socket_.close(ignored);
    auto pending = std::move(awaiting_);
    awaiting_.clear();
    outbox_.clear();
    in_flight_.store(0, std::memory_order_relaxed);
    for (auto& r : pending) {
        r->error = RedisError{code, message};
        r->done = true;
        r->timer.cancel();
    }
    broken_waiter_.cancel();
}

void Connection::close() {
    asio::post(strand_,
               [self = shared_from_this()] { self->fail(RedisErrc::closed, "connection closed"); });
}

Task<bool> Connection::wait_broken(std::chrono::milliseconds timeout) {
    // A member coroutine, not a capturing lambda: GCC 12 destroys a lambda's captures twice
    // when the lambda is a temporary inside a co_await expression.
    co_return co_await asio::co_spawn(strand_, wait_broken_on_strand(shared_from_this(), timeout),
                                      asio::use_awaitable);
}

Task<bool> Connection::wait_broken_on_strand(std::shared_ptr<Connection> self,
                                             std::chrono::milliseconds timeout) {
    if (broken()) {
        co_return true;
    }
    broken_waiter_.expires_after(timeout);
    co_await broken_waiter_.async_wait(kTuple);
    co_return broken();
}

}  // namespace confidant::redis
