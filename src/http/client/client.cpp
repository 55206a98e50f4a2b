#include "http/client/client.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "http/header_line.hpp"
#include "http/socket_now.hpp"

namespace confidant::http_client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

const char* to_string(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::invalid_url:
            return "invalid_url";
        case ErrorKind::connect_failed:
            return "connect_failed";
        case ErrorKind::timeout:
            return "timeout";
        case ErrorKind::closed:
            return "closed";
        case ErrorKind::protocol:
            return "protocol";
        case ErrorKind::cancelled:
            return "cancelled";
    }
    return "unknown";
}

void throw_exception_from_error(const Error& e, const boost::source_location&) {
    throw std::runtime_error(fmt::format("http client: {}: {}", to_string(e.kind), e.message));
}

std::optional<std::string_view> Response::header(std::string_view name) const {
    for (const auto& h : headers) {
        if (beast::iequals(h.name, name)) {
            return std::string_view(h.value);
        }
    }
    return std::nullopt;
}

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 << 10;
// The most an idle pooled connection keeps of the buffer its last answer was read through.
constexpr std::size_t kIdleBufferBytes = 1 << 10;

Error make_err(ErrorKind kind, std::string message, bool started = false) {
    return Error{kind, std::move(message), started};
}

// Maps an I/O error of one step ("connect", "write", "read") to an ErrorKind.
Error io_error(const error_code& ec, std::string_view step, const std::string& origin,
               bool started) {
    ErrorKind kind = ErrorKind::closed;
    if (ec == beast::error::timeout) {
        kind = ErrorKind::timeout;
    } else if (ec == asio::error::operation_aborted) {
        kind = ErrorKind::cancelled;
    } else if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
        kind = ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message
                   ? ErrorKind::closed
                   : ErrorKind::protocol;
    }
    return make_err(kind, fmt::format("{} {}: {}", step, origin, ec.message()), started);
}

// The request head as it goes on the wire (written together with the body in one write,
// instead of through Beast's serializer; the body is not copied).
std::string serialize_head(const bhttp::request<bhttp::string_body>& msg) {
    std::string out;
    out.reserve(256);
    out.append(msg.method_string());
    out.push_back(' ');
    out.append(msg.target());
    out.append(" HTTP/1.1\r\n");
    http::append_header_lines(out, msg);
    out.append("\r\n");
    return out;
}

struct Origin {
    bool tls = false;
    std::string host;  // for DNS / connect, without IPv6 brackets
    std::string port;
    std::string host_header;  // Host: value
    std::string target;       // path + query
    bool host_is_ip = false;
    std::string key() const {
        return fmt::format("{}://{}:{}", tls ? "https" : "http", host, port);
    }
};

Result<Origin> parse_url(std::string_view url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) {
        return make_err(ErrorKind::invalid_url, fmt::format("invalid URL '{}'", url));
    }
    const auto& u = *parsed;
    Origin o;
    if (u.scheme() == "https") {
        o.tls = true;
    } else if (u.scheme() != "http") {
        return make_err(ErrorKind::invalid_url, fmt::format("unsupported scheme in '{}'", url));
    }
    if (!u.has_authority() || u.encoded_host().empty()) {
        return make_err(ErrorKind::invalid_url, fmt::format("no host in '{}'", url));
    }
    o.host = u.host_address();
    o.host_is_ip = u.host_type() == boost::urls::host_type::ipv4 ||
                   u.host_type() == boost::urls::host_type::ipv6;
    const bool default_port = !u.has_port() || u.port().empty();
    o.port = default_port ? (o.tls ? "443" : "80") : std::string(u.port());
    if (!default_port && (o.port.size() > 5 || std::stoul(o.port) > 65535)) {
        return make_err(ErrorKind::invalid_url, fmt::format("invalid port in '{}'", url));
    }
    o.host_header = std::string(u.encoded_host());
    if (!default_port) {
        o.host_header += ":" + o.port;
    }
    o.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) {
        o.target += "?" + std::string(u.encoded_query());
    }
    return o;
}

struct Connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    SteadyClock::time_point idle_since{};

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

    void close() {
        error_code ec;
        auto& socket = lowest().socket();
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
    }

    ~Connection() { close(); }

    // An idle keep-alive connection is usable only if the peer has neither closed it nor sent
    // anything unsolicited: a non-blocking peek must find nothing to read.
    bool looks_alive() {
        if (buffer.size() != 0) {
            return false;
        }
        auto& socket = lowest().socket();
        if (!socket.is_open()) {
            return false;
        }
        char byte = 0;
        const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

// A request waiting for a free connection slot when a host is at its limit.
struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : channel(ex, 1), timer(ex) {}
    asio::experimental::concurrent_channel<void(error_code)> channel;
    asio::steady_timer timer;
};

struct HostPool {
    std::vector<std::unique_ptr<Connection>> idle;  // most recently used at the back
    std::size_t open = 0;                           // busy + idle
    std::deque<std::shared_ptr<Waiter>> waiters;
};

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
    Impl(asio::any_io_executor ex, ClientSettings s)
        : executor(std::move(ex)), settings(std::move(s)), tls_context(ssl::context::tls_client) {
        tls_context.set_default_verify_paths();
        if (!settings.ca_file.empty()) {
            tls_context.load_verify_file(settings.ca_file);
        }
        tls_context.set_verify_mode(ssl::verify_peer);
        tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                ssl::context::no_tlsv1_1);
        if (settings.max_connections_per_host == 0) {
            settings.max_connections_per_host = 1;
        }
    }

    // A connection slot taken from a host pool. Unless handed back with `give_back`, the
    // connection is closed and the slot released when the lease is destroyed (errors,
    // cancellation, exceptions from a body sink).
    struct Lease {
        std::shared_ptr<Impl> owner;
        std::string key;
        std::unique_ptr<Connection> conn;
        bool reused = false;

        Lease() = default;
        Lease(Lease&&) = default;
        Lease& operator=(Lease&&) = delete;
        ~Lease() {
            if (owner) {
                owner->release(key, std::move(conn), false);
            }
        }
    };

    asio::any_io_executor executor;
    ClientSettings settings;
    ssl::context tls_context;

    mutable std::mutex mutex;
    std::unordered_map<std::string, HostPool> pools;
    bool closed = false;

    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> opened{0};
    std::atomic<std::uint64_t> reused{0};
    std::atomic<std::uint64_t> retries{0};

    // Wakes up to `n` waiters of `pool`; the caller signals them after unlocking.
    static void take_waiters_locked(HostPool& pool, std::size_t n,
                                    std::vector<std::shared_ptr<Waiter>>& out) {
        while (n-- > 0 && !pool.waiters.empty()) {
            out.push_back(std::move(pool.waiters.front()));
            pool.waiters.pop_front();
        }
    }

    static void signal(const std::vector<std::shared_ptr<Waiter>>& waiters) {
        for (const auto& w : waiters) {
            w->channel.try_send(error_code{});
        }
    }

    void release(const std::string& key, std::unique_ptr<Connection> conn, bool keep) {
        std::vector<std::shared_ptr<Waiter>> wake;
        std::unique_ptr<Connection> doomed;
        {
            std::lock_guard lock(mutex);
            auto& pool = pools[key];
            if (keep && conn && !closed && conn->buffer.size() == 0) {
                conn->idle_since = SteadyClock::now();
                pool.idle.push_back(std::move(conn));
            } else {
                doomed = std::move(conn);
                if (pool.open > 0) {
                    --pool.open;
                }
            }
            take_waiters_locked(pool, 1, wake);
        }
        signal(wake);
    }

    // Connects to the first endpoint that answers, within `deadline`. A connection that is
    // made at once (loopback: a local model server) goes on without waiting for the reactor.
    static Task<error_code> connect_any(tcp::socket& socket,
                                        const std::vector<tcp::endpoint>& endpoints,
                                        SteadyClock::time_point deadline) {
        error_code ec = asio::error::host_not_found;
        for (const auto& endpoint : endpoints) {
            ec = {};
            if (http::connect_now(socket, endpoint, ec)) {
                co_return error_code{};
            }
            if (!ec) {
                // Under way: wait until the socket is writable, no longer than the deadline.
                asio::steady_timer timer(socket.get_executor(), deadline);
                auto waiting = std::make_shared<bool>(true);
                timer.async_wait([&socket, waiting](error_code e) {
                    if (!e && *waiting) {
                        error_code ignored;
                        socket.cancel(ignored);
                    }
                });
                auto [wec] = co_await socket.async_wait(tcp::socket::wait_write, kUseTuple);
                *waiting = false;
                timer.cancel();
                if (wec == asio::error::operation_aborted && SteadyClock::now() >= deadline) {
                    co_return beast::error::timeout;
                }
                ec = wec ? wec : http::connect_result(socket);
                if (!ec || wec == asio::error::operation_aborted) {
                    co_return ec;  // connected, or the call was cancelled
                }
            }
            if (SteadyClock::now() >= deadline) {
                co_return beast::error::timeout;
            }
        }
        co_return ec;
    }

    Task<Result<std::unique_ptr<Connection>>> connect(const Origin& o,
                                                      std::chrono::milliseconds timeout) {
        const auto deadline = SteadyClock::now() + timeout;
        auto conn = std::make_unique<Connection>();
        // The connection lives on the caller's I/O context (one per server thread), so the
        // sockets of many concurrent calls spread over the threads instead of all landing on
        // the context the client was built with.
        asio::any_io_executor caller = co_await asio::this_coro::executor;
        auto strand = asio::make_strand(caller);
        if (o.tls) {
            conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(strand, tls_context);
        } else {
            conn->plain = std::make_unique<beast::tcp_stream>(strand);
        }
        auto& stream = conn->lowest();

        std::vector<tcp::endpoint> endpoints;
        error_code ec;
        const auto address = asio::ip::make_address(o.host, ec);
        const auto port = static_cast<unsigned short>(std::stoul(o.port));
        if (!ec) {
            endpoints.emplace_back(address, port);
        } else {
            tcp::resolver resolver(strand);
            auto [rec, results] = co_await resolver.async_resolve(o.host, o.port, kUseTuple);
            if (rec) {
                co_return rec == asio::error::operation_aborted
                    ? make_err(ErrorKind::cancelled, "resolve cancelled")
                    : make_err(ErrorKind::connect_failed,
                               fmt::format("resolve {}: {}", o.host, rec.message()));
            }
            for (const auto& entry : results) {
                endpoints.push_back(entry.endpoint());
            }
        }

        const error_code cec = co_await connect_any(stream.socket(), endpoints, deadline);
        if (cec) {
            auto err = io_error(cec, "connect", o.key(), false);
            if (err.kind == ErrorKind::closed) {
                err.kind = ErrorKind::connect_failed;
            }
            co_return err;
        }
        // Requests are small and answered at once: never hold one back waiting for an ACK.
        error_code nodelay_ignored;
        stream.socket().set_option(tcp::no_delay(true), nodelay_ignored);
        if (o.tls) {
            if (!o.host_is_ip &&
                !SSL_set_tlsext_host_name(conn->tls->native_handle(), o.host.c_str())) {
                co_return make_err(ErrorKind::connect_failed, "TLS: cannot set SNI host name");
            }
            conn->tls->set_verify_callback(ssl::host_name_verification(o.host));
            stream.expires_at(deadline);
            auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, kUseTuple);
            if (hec) {
                auto err = io_error(hec, "TLS handshake with", o.key(), false);
                if (err.kind == ErrorKind::closed || err.kind == ErrorKind::protocol) {
                    err.kind = ErrorKind::connect_failed;
                }
                co_return err;
            }
        }
        stream.expires_never();
        ++opened;
        co_return std::move(conn);
    }

    Task<Result<Lease>> acquire(const Origin& o, std::chrono::milliseconds connect_timeout) {
        // One pool per origin and I/O context: a connection lives on the context that opened
        // it, so reusing it from another thread would bounce every read and write between the
        // two threads.
        asio::any_io_executor caller = co_await asio::this_coro::executor;
        const auto key =
            fmt::format("{}@{}", o.key(),
                        static_cast<const void*>(&asio::query(caller, asio::execution::context)));
        const auto deadline = SteadyClock::now() + connect_timeout;
        for (;;) {
            std::vector<std::unique_ptr<Connection>> stale;
            std::vector<std::shared_ptr<Waiter>> wake;
            std::shared_ptr<Waiter> waiter;
            Lease lease;
            bool must_connect = false;
            {
                std::lock_guard lock(mutex);
                auto& pool = pools[key];
                const auto now = SteadyClock::now();
                while (!pool.idle.empty()) {
                    auto c = std::move(pool.idle.back());
                    pool.idle.pop_back();
                    if (now - c->idle_since < settings.idle_timeout && c->looks_alive()) {
                        lease.conn = std::move(c);
                        lease.reused = true;
                        break;
                    }
                    --pool.open;
                    stale.push_back(std::move(c));
                }
                if (!lease.conn) {
                    if (pool.open < settings.max_connections_per_host) {
                        ++pool.open;
                        must_connect = true;
                    } else {
                        waiter = std::make_shared<Waiter>(caller);
                        pool.waiters.push_back(waiter);
                    }
                }
                if (!stale.empty()) {
                    // Slots freed by stale connections beyond the one we take ourselves.
                    take_waiters_locked(pool, stale.size(), wake);
                }
                if (lease.conn || must_connect) {
                    lease.owner = shared_from_this();
                    lease.key = key;
                }
            }
            stale.clear();
            signal(wake);

            if (lease.conn) {
                ++reused;
                co_return std::move(lease);
            }
            if (must_connect) {
                auto conn = co_await connect(o, connect_timeout);
                if (!conn) {
                    co_return conn.error();  // the lease's destructor frees the slot
                }
                lease.conn = std::move(*conn);
                co_return std::move(lease);
            }

            auto outcome = co_await wait_for_slot(key, waiter, deadline);
            if (outcome) {
                co_return *outcome;
            }
        }
    }

    // Waits until a slot of `key` is released; returns an error on timeout or cancellation,
    // nullopt when it is worth trying again.
    Task<std::optional<Error>> wait_for_slot(const std::string& key,
                                             const std::shared_ptr<Waiter>& waiter,
                                             SteadyClock::time_point deadline) {
        waiter->timer.expires_at(deadline);
        waiter->timer.async_wait([weak = std::weak_ptr<Waiter>(waiter)](error_code ec) {
            if (!ec) {
                if (auto w = weak.lock()) {
                    w->channel.try_send(asio::error::timed_out);
                }
            }
        });
        auto [ec] = co_await waiter->channel.async_receive(kUseTuple);
        waiter->timer.cancel();
        if (!ec) {
            co_return std::nullopt;
        }
        // Leaving without using a slot: if a release already picked us, pass its wake-up on.
        std::vector<std::shared_ptr<Waiter>> wake;
        {
            std::lock_guard lock(mutex);
            auto& pool = pools[key];
            auto it = std::find(pool.waiters.begin(), pool.waiters.end(), waiter);
            if (it != pool.waiters.end()) {
                pool.waiters.erase(it);
            } else {
                take_waiters_locked(pool, 1, wake);
            }
        }
        signal(wake);
        if (ec == asio::error::timed_out) {
            co_return make_err(
                ErrorKind::timeout,
                fmt::format("no free connection to {} within the connect timeout "
                            "({} connections busy)",
                            key.substr(0, key.find('@')), settings.max_connections_per_host));
        }
        co_return make_err(ErrorKind::cancelled, "cancelled while waiting for a connection");
    }

    // One request/response exchange on an established connection. `head_received` tells the
    // caller whether a stale-connection retry is still safe.
    template <class Stream>
    Task<Result<Response>> exchange(Stream& stream, Connection& conn, const Origin& o,
                                    const bhttp::request<bhttp::string_body>& msg,
                                    const std::string& head, const BodySink* sink,
                                    std::chrono::milliseconds read_timeout, bool& head_received,
                                    bool& keep_alive) {
        auto& lowest = conn.lowest();

        lowest.expires_after(settings.write_timeout);
        const std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(msg.body())};
        auto [wec, written] = co_await asio::async_write(stream, wire, kUseTuple);
        if (wec) {
            co_return io_error(wec, "write to", o.key(), false);
        }

        bhttp::response_parser<bhttp::buffer_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
        if (msg.method() == bhttp::verb::head) {
            parser.skip(true);
        }
        // The limit is enforced while the head is parsed (Content-Length), so it is set now;
        // a non-2xx answer to a streamed request is checked against max_body_bytes below.
        if (sink != nullptr) {
            parser.body_limit(boost::none);
        } else {
            parser.body_limit(settings.max_body_bytes);
        }
        lowest.expires_after(read_timeout);
        auto [hec, head_bytes] =
            co_await bhttp::async_read_header(stream, conn.buffer, parser, kUseTuple);
        if (hec) {
            co_return io_error(hec, "read response head from", o.key(), false);
        }
        head_received = true;

        Response response;
        response.status = parser.get().result_int();
        for (const auto& field : parser.get()) {
            response.headers.push_back(
                Header{std::string(field.name_string()), std::string(field.value())});
        }
        const bool deliver = sink != nullptr && response.status >= 200 && response.status < 300;

        // A body of known length that is collected is read straight into the response; any
        // other body goes through a buffer that lives only while this exchange reads (not one
        // per pooled connection: thousands of idle connections would each hold one).
        std::unique_ptr<char[]> chunk;
        std::size_t chunk_size = 0;
        const auto length = parser.content_length();
        const bool direct = !deliver && length && *length <= settings.max_body_bytes;
        if (direct) {
            response.body.resize(static_cast<std::size_t>(*length));
        }
        std::size_t filled = 0;
        while (!parser.is_done()) {
            char* into = nullptr;
            std::size_t room = 0;
            if (direct) {
                into = response.body.data() + filled;
                room = response.body.size() - filled;
            } else {
                if (!chunk) {
                    chunk_size = kReadChunk;
                    chunk = std::make_unique_for_overwrite<char[]>(chunk_size);
                }
                into = chunk.get();
                room = chunk_size;
            }
            parser.get().body().data = into;
            parser.get().body().size = room;
            if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
                if (conn.buffer.size() == 0) {
                    // What has arrived already (the whole body, for an answer that came in one
                    // segment) is taken now, up to what the body still needs. An error or the
                    // peer's close is left to the asynchronous read below, which reports it as
                    // Beast does (a body that ends with the connection needs that).
                    std::uint64_t want = kReadChunk;
                    if (const auto left = parser.content_length_remaining()) {
                        want = std::clamp<std::uint64_t>(*left, 1, kReadChunk);
                    }
                    beast::error_code nec;
                    conn.buffer.commit(http::receive_now(
                        stream.socket(), conn.buffer.prepare(static_cast<std::size_t>(want)), nec));
                }
            }
            // Buffered bytes are parsed here: Beast's async_read_some would post its completion
            // through the I/O queue without reading anything.
            beast::error_code rec = bhttp::error::need_more;
            if (conn.buffer.size() > 0) {
                const auto used = parser.put(conn.buffer.data(), rec);
                conn.buffer.consume(used);
                if (rec == bhttp::error::need_more && used > 0) {
                    rec = {};
                }
            }
            if (rec == bhttp::error::need_more) {
                lowest.expires_after(read_timeout);
                auto [ec, n] =
                    co_await bhttp::async_read_some(stream, conn.buffer, parser, kUseTuple);
                rec = ec;
            }
            if (rec == bhttp::error::need_buffer) {
                rec = {};
            }
            if (rec) {
                co_return io_error(rec, "read response body from", o.key(), true);
            }
            const std::size_t got = room - parser.get().body().size;
            if (got == 0) {
                continue;
            }
            if (direct) {
                filled += got;
            } else if (deliver) {
                co_await (*sink)(std::string_view(chunk.get(), got));
            } else if (response.body.size() + got > settings.max_body_bytes) {
                co_return make_err(ErrorKind::protocol,
                                   fmt::format("response body from {} exceeds {} bytes", o.key(),
                                               settings.max_body_bytes),
                                   true);
            } else {
                response.body.append(chunk.get(), got);
            }
        }
        if (direct) {
            response.body.resize(filled);
        }
        if (conn.buffer.capacity() > kIdleBufferBytes) {
            conn.buffer.shrink_to_fit();  // an idle pooled connection keeps no large buffer
        }
        lowest.expires_never();
        keep_alive = parser.keep_alive();
        co_return response;
    }

    Task<Result<Response>> perform(Request request, const BodySink* sink) {
        ++requests;
        auto origin = parse_url(request.url);
        if (!origin) {
            co_return origin.error();
        }
        const auto& o = *origin;

        bhttp::request<bhttp::string_body> msg;
        const auto verb = bhttp::string_to_verb(request.method);
        if (verb == bhttp::verb::unknown) {
            msg.method_string(request.method);
        } else {
            msg.method(verb);
        }
        msg.target(o.target);
        msg.version(11);
        msg.set(bhttp::field::host, o.host_header);
        msg.set(bhttp::field::user_agent, settings.user_agent);
        for (const auto& h : request.headers) {
            msg.set(h.name, h.value);
        }
        msg.body() = std::move(request.body);
        msg.prepare_payload();
        msg.keep_alive(true);
        const std::string head = serialize_head(msg);

        const auto connect_timeout = request.connect_timeout.value_or(settings.connect_timeout);
        const auto read_timeout = request.read_timeout.value_or(settings.read_timeout);

        for (int attempt = 0;; ++attempt) {
            auto lease = co_await acquire(o, connect_timeout);
            if (!lease) {
                co_return lease.error();
            }
            bool head_received = false;
            bool keep_alive = false;
            auto& conn = *lease->conn;
            // (No co_await inside ?: — GCC 12 miscompiles that.)
            Result<Response> result = make_err(ErrorKind::closed, "");
            if (conn.tls) {
                result = co_await exchange(*conn.tls, conn, o, msg, head, sink, read_timeout,
                                           head_received, keep_alive);
            } else {
                result = co_await exchange(*conn.plain, conn, o, msg, head, sink, read_timeout,
                                           head_received, keep_alive);
            }
            if (result) {
                auto owner = std::move(lease->owner);
                owner->release(lease->key, std::move(lease->conn), keep_alive);
                co_return result;
            }
            // A pooled connection the server had already closed: try once more on a new one.
            const bool stale =
                lease->reused && !head_received && result.error().kind == ErrorKind::closed;
            if (!stale || attempt > 0) {
                co_return result;
            }
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) {
                co_return make_err(ErrorKind::cancelled, "cancelled");
            }
            ++retries;
        }
    }
};

Client::Client(asio::any_io_executor executor, ClientSettings settings)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(settings))) {}

Client::~Client() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->closed = true;
    }
    close_idle();
}

Task<Result<Response>> Client::request(Request request) {
    auto impl = impl_;
    co_return co_await impl->perform(std::move(request), nullptr);
}

Task<Result<Response>> Client::request_stream(Request request, BodySink on_body_chunk) {
    auto impl = impl_;
    co_return co_await impl->perform(std::move(request), &on_body_chunk);
}

ClientStats Client::stats() const {
    ClientStats s;
    s.requests = impl_->requests.load();
    s.connections_opened = impl_->opened.load();
    s.connections_reused = impl_->reused.load();
    s.retries = impl_->retries.load();
    std::lock_guard lock(impl_->mutex);
    for (const auto& [key, pool] : impl_->pools) {
        s.open_connections += pool.open;
        s.idle_connections += pool.idle.size();
    }
    return s;
}

void Client::close_idle() {
    std::vector<std::unique_ptr<Connection>> doomed;
    std::vector<std::shared_ptr<Waiter>> wake;
    {
        std::lock_guard lock(impl_->mutex);
        for (auto& [key, pool] : impl_->pools) {
            const auto n = pool.idle.size();
            pool.open -= n;
            for (auto& c : pool.idle) {
                doomed.push_back(std::move(c));
            }
            pool.idle.clear();
            Impl::take_waiters_locked(pool, n, wake);
        }
    }
    Impl::signal(wake);
}

}  // namespace confidant::http_client
