#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <fstream>
#include <thread>

#include "http/client/client.hpp"
#include "test_server.hpp"

namespace confidant::http_client {
namespace {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using test::respond;
using test::ServerRequest;
using test::ServerStream;
using test::TestServer;
namespace asio = boost::asio;

Request get(std::string url) {
    Request r;
    r.url = std::move(url);
    return r;
}

// A server answering every request with "hello <target>".
test::ServerHandler echo_handler() {
    return [](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        // (Headers built outside the co_await: GCC 12 cannot keep an initializer_list's
        // array alive across a suspension.)
        test::Headers headers;
        headers.emplace_back("X-Conn", std::to_string(req.connection_id));
        co_return co_await respond(s, req, 200, "hello " + std::string(req.msg.target()),
                                   std::move(headers), "text/plain");
    };
}

TEST(HttpClient, GetsWholeResponseAndReusesTheConnection) {
    TestServer server(echo_handler());
    asio::io_context ioc;
    Client client(ioc.get_executor());
    for (int i = 0; i < 10; ++i) {
        auto r = test::run(ioc, [&]() { return client.request(get(server.url("/x?i=1"))); });
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->status, 200u);
        EXPECT_EQ(r->body, "hello /x?i=1");
        ASSERT_TRUE(r->header("x-conn"));
        EXPECT_EQ(*r->header("X-CONN"), "1");
    }
    const auto stats = client.stats();
    EXPECT_EQ(stats.connections_opened, 1u);
    EXPECT_EQ(stats.connections_reused, 9u);
    EXPECT_EQ(stats.idle_connections, 1u);
    EXPECT_EQ(server.connections_accepted(), 1);
    EXPECT_EQ(server.requests(), 10);
}

// Connections are pooled per I/O context: one is reused only by requests running on the
// context (the server's thread) that opened it, never from another thread.
TEST(HttpClient, PoolsConnectionsPerIoContext) {
    TestServer server(echo_handler());
    asio::io_context a;
    asio::io_context b;
    Client client(a.get_executor());
    auto connection_used_on = [&](asio::io_context& ctx) -> std::string {
        auto r = test::run(ctx, [&]() { return client.request(get(server.url("/p"))); });
        EXPECT_TRUE(r);
        return r && r->header("x-conn") ? std::string(*r->header("x-conn")) : "";
    };
    EXPECT_EQ(connection_used_on(a), "1");
    EXPECT_EQ(connection_used_on(b), "2");
    EXPECT_EQ(connection_used_on(a), "1");
    EXPECT_EQ(connection_used_on(b), "2");
    EXPECT_EQ(client.stats().connections_opened, 2u);
    EXPECT_EQ(client.stats().connections_reused, 2u);
    EXPECT_EQ(server.connections_accepted(), 2);
}

TEST(HttpClient, SendsMethodHeadersAndBody) {
    std::string seen;
    TestServer server([&](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        seen = std::string(req.msg.method_string()) + " " + std::string(req.msg.target()) + " " +
               std::string(req.msg["x-api"]) + " " + req.msg.body() + " " +
               std::string(req.msg[boost::beast::http::field::host]);
        co_return co_await respond(s, req, 201, "{}");
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    Request r;
    r.method = "POST";
    r.url = server.url("/v1/things");
    r.headers = {{"x-api", "k1"}};
    r.body = R"({"a":1})";
    auto res = test::run(ioc, [&]() { return client.request(r); });
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->status, 201u);
    EXPECT_EQ(seen, "POST /v1/things k1 {\"a\":1} 127.0.0.1:" + std::to_string(server.port()));
}

TEST(HttpClient, DiscardsAnIdleConnectionTheServerClosed) {
    // The server answers with keep-alive but then closes every connection.
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_await respond(s, req, 200, "ok");
        co_return false;
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    for (int i = 0; i < 3; ++i) {
        // Give the close time to arrive, so the pool sees a dead idle connection.
        while (server.connections_closed() < i) {
            std::this_thread::sleep_for(5ms);
        }
        auto r = test::run(ioc, [&]() { return client.request(get(server.url())); });
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->body, "ok");
    }
    EXPECT_EQ(client.stats().connections_opened, 3u);
    EXPECT_EQ(server.connections_accepted(), 3);
}

TEST(HttpClient, RetriesOnceWhenAPooledConnectionDiesBeforeAnswering) {
    // Request #2 on connection 1 is read and the connection dropped without an answer: the
    // race of a server closing an idle keep-alive connection just as the client reuses it.
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        if (req.connection_id == 1 && req.index_on_connection == 1) {
            co_return false;
        }
        co_return co_await respond(s, req, 200, "conn " + std::to_string(req.connection_id));
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    auto first = test::run(ioc, [&]() { return client.request(get(server.url())); });
    ASSERT_TRUE(first);
    auto second = test::run(ioc, [&]() { return client.request(get(server.url())); });
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(second->body, "conn 2");
    EXPECT_EQ(client.stats().retries, 1u);
    EXPECT_EQ(client.stats().connections_opened, 2u);
}

TEST(HttpClient, StreamsTheBodyAsItArrives) {
    // The server sends part one, then waits until the client has seen it before finishing:
    // a client that buffered the whole body would never get part two.
    std::atomic<bool> client_saw_first{false};
    TestServer server([&](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_await s.write_raw(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
            "8\r\npart one\r\n");
        for (int i = 0; i < 2000 && !client_saw_first; ++i) {
            co_await test::sleep_for(5ms);
        }
        co_await s.write_raw("8\r\npart two\r\n0\r\n\r\n");
        co_return true;
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    std::vector<std::string> chunks;
    auto r = test::run(ioc, [&]() {
        return client.request_stream(get(server.url("/sse")),
                                     [&](std::string_view chunk) -> Task<void> {
                                         chunks.emplace_back(chunk);
                                         client_saw_first = true;
                                         co_return;
                                     });
    });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200u);
    EXPECT_TRUE(r->body.empty());
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[0], "part one");
    EXPECT_EQ(chunks[1], "part two");
    // The connection went back to the pool after the complete chunked body.
    EXPECT_EQ(client.stats().idle_connections, 1u);
}

TEST(HttpClient, StreamedRequestCollectsAnErrorBodyInsteadOfStreamingIt) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        test::Headers headers;
        headers.emplace_back("Retry-After", "3");
        co_return co_await respond(s, req, 429, R"({"error":"slow"})", std::move(headers));
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    int calls = 0;
    auto r = test::run(ioc, [&]() {
        return client.request_stream(get(server.url()), [&](std::string_view) -> Task<void> {
            ++calls;
            co_return;
        });
    });
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429u);
    EXPECT_EQ(r->body, R"({"error":"slow"})");
    EXPECT_EQ(r->header("retry-after"), "3");
    EXPECT_EQ(calls, 0);
}

TEST(HttpClient, ReadTimeoutWhenTheServerIsSlow) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_await test::sleep_for(3000ms);
        co_return co_await respond(s, req, 200, "late");
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    auto req = get(server.url());
    req.read_timeout = 200ms;
    auto r = test::run(ioc, [&]() { return client.request(req); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::timeout) << r.error().message;
    EXPECT_EQ(client.stats().open_connections, 0u);
}

TEST(HttpClient, StallInTheMiddleOfAStreamIsATimeout) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_await s.write_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
        co_await test::sleep_for(3000ms);
        co_return false;
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    auto req = get(server.url());
    req.read_timeout = 300ms;
    std::string got;
    auto r = test::run(ioc, [&]() {
        return client.request_stream(req, [&](std::string_view c) -> Task<void> {
            got += c;
            co_return;
        });
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::timeout);
    EXPECT_TRUE(r.error().response_started);
    EXPECT_EQ(got, "abc");
}

TEST(HttpClient, ConnectionRefusedIsConnectFailed) {
    unsigned short port = 0;
    {
        asio::io_context tmp;
        asio::ip::tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }  // closed: nothing listens there now
    asio::io_context ioc;
    Client client(ioc.get_executor());
    auto r = test::run(ioc, [&]() {
        return client.request(get("http://127.0.0.1:" + std::to_string(port) + "/"));
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect_failed) << r.error().message;
    EXPECT_EQ(client.stats().open_connections, 0u);
}

// A listener whose accept queue is full drops new SYNs: the connection stays under way, and the
// client waits for it (not the at-once path a loopback connection usually takes).
struct FullListener {
    asio::io_context ctx;
    asio::ip::tcp::acceptor acceptor{ctx};
    asio::ip::tcp::socket filler{ctx};
    FullListener() {
        const asio::ip::tcp::endpoint at{asio::ip::make_address("127.0.0.1"), 0};
        acceptor.open(at.protocol());
        acceptor.bind(at);
        acceptor.listen(0);  // one connection fills the queue
        filler.connect(acceptor.local_endpoint());
    }
    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/";
    }
};

TEST(HttpClient, ConnectionThatCannotBeMadeTimesOut) {
    FullListener listener;
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.connect_timeout = 300ms});
    const auto started = std::chrono::steady_clock::now();
    auto r = test::run(ioc, [&]() { return client.request(get(listener.url())); });
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::timeout) << r.error().message;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 900ms);  // before the kernel's first SYN retransmission (1 s) could connect
    EXPECT_EQ(client.stats().open_connections, 0u);
}

TEST(HttpClient, ConnectionMadeAfterAWaitIsUsed) {
    FullListener listener;
    // Once the queue has room again, the kernel's retransmitted SYN (after about 1 s) connects.
    std::thread server([&] {
        std::this_thread::sleep_for(200ms);
        auto first = listener.acceptor.accept();  // the filler: room in the queue again
        auto conn = listener.acceptor.accept();   // the client's
        asio::streambuf in;
        asio::read_until(conn, in, "\r\n\r\n");
        asio::write(conn,
                    asio::buffer(std::string_view(
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlater")));
    });
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.connect_timeout = 5s});
    auto r = test::run(ioc, [&]() { return client.request(get(listener.url())); });
    server.join();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "later");
}

TEST(HttpClient, RejectsInvalidUrls) {
    asio::io_context ioc;
    Client client(ioc.get_executor());
    for (const char* url :
         {"ftp://example.com/", "not a url", "/relative", "http://", "http://127.0.0.1:99999/"}) {
        auto r = test::run(ioc, [&]() { return client.request(get(url)); });
        ASSERT_FALSE(r) << url;
        EXPECT_EQ(r.error().kind, ErrorKind::invalid_url) << url;
    }
}

TEST(HttpClient, BodyOverTheLimitIsAProtocolError) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_return co_await respond(s, req, 200, std::string(5000, 'x'));
    });
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.max_body_bytes = 1000});
    auto r = test::run(ioc, [&]() { return client.request(get(server.url())); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::protocol);
}

// A body of known length is read straight into the response, a chunked one through a read
// buffer: both arrive whole and in order, including bodies larger than one read.
TEST(HttpClient, CollectsBodiesOfKnownAndUnknownLength) {
    std::string big;
    for (int i = 0; big.size() < 100'000; ++i) {
        big += std::to_string(i) + ",";
    }
    TestServer server([&](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        if (req.msg.target() == "/chunked") {
            co_await s.write_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for (std::size_t at = 0; at < big.size(); at += 30'000) {
                const auto piece = big.substr(at, 30'000);
                co_await s.write_raw(fmt::format("{:x}\r\n{}\r\n", piece.size(), piece));
            }
            co_await s.write_raw("0\r\n\r\n");
            co_return true;
        }
        if (req.msg.target() == "/close") {  // no length: the body ends when the server closes
            co_await s.write_raw("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big);
            co_return false;
        }
        co_return co_await respond(s, req, 200, big);
    });
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.max_body_bytes = 200'000});
    for (const char* path : {"/length", "/chunked", "/length"}) {
        auto r = test::run(ioc, [&]() { return client.request(get(server.url(path))); });
        ASSERT_TRUE(r) << path << ": " << r.error().message;
        EXPECT_EQ(r->body.size(), big.size()) << path;
        EXPECT_TRUE(r->body == big) << path;
    }
    EXPECT_EQ(client.stats().connections_opened, 1u);
    auto closed = test::run(ioc, [&]() { return client.request(get(server.url("/close"))); });
    ASSERT_TRUE(closed) << closed.error().message;
    EXPECT_TRUE(closed->body == big);

    Client small(ioc.get_executor(), ClientSettings{.max_body_bytes = 50'000});
    auto r = test::run(ioc, [&]() { return small.request(get(server.url("/chunked"))); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::protocol);
}

TEST(HttpClient, CancellationClosesTheConnectionAndReturnsPromptly) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        if (req.connection_id == 1) {
            // Never answer; wait for the client to go away (EOF), at most 60 s.
            char byte = 0;
            s.lowest().expires_after(60s);
            co_await s.lowest().async_read_some(asio::buffer(&byte, 1),
                                                asio::as_tuple(asio::use_awaitable));
            co_return false;
        }
        co_return co_await respond(s, req, 200, "ok");
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    const auto started = std::chrono::steady_clock::now();
    auto winner = test::run(ioc, [&]() -> Task<int> {
        asio::steady_timer timer(ioc, 200ms);
        auto r =
            co_await (client.request(get(server.url())) || timer.async_wait(asio::use_awaitable));
        co_return static_cast<int>(r.index());
    });
    EXPECT_EQ(winner, 1);
    // Far less than the server's 60 s: the request did not wait for the answer.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
    auto stats = client.stats();
    EXPECT_EQ(stats.open_connections, 0u);
    EXPECT_EQ(stats.idle_connections, 0u);
    // The server sees the connection go away, and the next request uses a new one.
    for (int i = 0; i < 2000 && server.connections_closed() < 1; ++i) {
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(server.connections_closed(), 1);
    auto r = test::run(ioc, [&]() { return client.request(get(server.url())); });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(client.stats().connections_opened, 2u);
}

TEST(HttpClient, CancelledRequestReportsCancelled) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_await test::sleep_for(60s);
        co_return false;
    });
    asio::io_context ioc;
    Client client(ioc.get_executor());
    std::optional<Result<Response>> seen;
    test::run(ioc, [&]() -> Task<int> {
        asio::steady_timer timer(ioc, 200ms);
        auto inner = [&]() -> Task<void> { seen = co_await client.request(get(server.url())); };
        co_await (inner() || timer.async_wait(asio::use_awaitable));
        co_return 0;
    });
    ASSERT_TRUE(seen);
    ASSERT_FALSE(*seen);
    EXPECT_EQ(seen->error().kind, ErrorKind::cancelled) << seen->error().message;
}

TEST(HttpClient, PoolLimitQueuesRequestsOnFewConnections) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_await test::sleep_for(50ms);
        co_return co_await respond(s, req, 200, "ok");
    });
    asio::io_context ioc;
    Client client(ioc.get_executor(),
                  ClientSettings{.max_connections_per_host = 2, .connect_timeout = 30s});
    auto ok = test::run(ioc, [&]() -> Task<int> {
        int n_ok = 0;
        auto one = [&]() -> Task<void> {
            auto r = co_await client.request(get(server.url()));
            n_ok += r && r->status == 200 ? 1 : 0;
        };
        co_await ((one() && one() && one()) && (one() && one() && one()));
        co_return n_ok;
    });
    EXPECT_EQ(ok, 6);
    EXPECT_LE(server.connections_accepted(), 2);
    EXPECT_LE(client.stats().connections_opened, 2u);
}

TEST(HttpClient, WaitingForAFreeConnectionTimesOut) {
    TestServer server([](ServerStream& s, const ServerRequest& req) -> Task<bool> {
        co_await test::sleep_for(3000ms);
        co_return co_await respond(s, req, 200, "ok");
    });
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.max_connections_per_host = 1,
                                                     .connect_timeout = 200ms,
                                                     .read_timeout = 600ms});
    auto kinds = test::run(ioc, [&]() -> Task<std::pair<int, int>> {
        std::pair<int, int> out{-1, -1};
        auto first = [&]() -> Task<void> {
            auto r = co_await client.request(get(server.url()));
            out.first = r ? 100 : static_cast<int>(r.error().kind);
        };
        auto second = [&]() -> Task<void> {
            co_await test::sleep_for(20ms);
            auto r = co_await client.request(get(server.url()));
            out.second = r ? 100 : static_cast<int>(r.error().kind);
        };
        co_await (first() && second());
        co_return out;
    });
    EXPECT_EQ(kinds.first, static_cast<int>(ErrorKind::timeout));   // read timeout
    EXPECT_EQ(kinds.second, static_cast<int>(ErrorKind::timeout));  // no free slot
    EXPECT_EQ(server.connections_accepted(), 1);
}

TEST(HttpClient, ManyConcurrentRequestsFromSeveralThreads) {
    TestServer server(echo_handler());
    asio::io_context ioc;
    Client client(ioc.get_executor());
    std::atomic<int> ok{0};
    constexpr int kRequests = 64;
    for (int i = 0; i < kRequests; ++i) {
        asio::co_spawn(
            asio::make_strand(ioc),
            [&, i]() -> Task<void> {
                auto r = co_await client.request(get(server.url("/n" + std::to_string(i))));
                if (r && r->body == "hello /n" + std::to_string(i)) {
                    ++ok;
                }
            },
            [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] { ioc.run(); });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(ok.load(), kRequests);
    EXPECT_EQ(client.stats().open_connections, client.stats().idle_connections);
}

TEST(HttpClient, HttpsAgainstAPlainHttpPortFailsCleanly) {
    TestServer server(echo_handler());
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.connect_timeout = 5s});
    auto r = test::run(ioc, [&]() {
        return client.request(get("https://127.0.0.1:" + std::to_string(server.port()) + "/"));
    });
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().kind == ErrorKind::connect_failed || r.error().kind == ErrorKind::timeout)
        << to_string(r.error().kind) << ": " << r.error().message;
    EXPECT_EQ(client.stats().open_connections, 0u);
}

// A self-signed certificate (EC P-256) for `san`, made with OpenSSL's API.
struct SelfSigned {
    std::string cert_pem;
    std::string key_pem;
};

SelfSigned make_self_signed(const char* san) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("confidant test"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, san},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, key, EVP_sha256());

    auto to_string = [](BIO* bio) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        std::string out(data, static_cast<std::size_t>(n));
        BIO_free(bio);
        return out;
    };
    BIO* cert_bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cert_bio, x);
    BIO* key_bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    SelfSigned out{to_string(cert_bio), to_string(key_bio)};
    X509_free(x);
    EVP_PKEY_free(key);
    return out;
}

class TempFile {
  public:
    explicit TempFile(const std::string& content) {
        char name[] = "/tmp/confidant-ca-XXXXXX";
        const int fd = ::mkstemp(name);
        path_ = name;
        ::close(fd);
        std::ofstream(path_) << content;
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

struct TlsServer {
    explicit TlsServer(const char* san) : cert(make_self_signed(san)) {
        ctx.use_certificate_chain(asio::buffer(cert.cert_pem));
        ctx.use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem);
        server.emplace(echo_handler(), &ctx);
    }
    SelfSigned cert;
    asio::ssl::context ctx{asio::ssl::context::tls_server};
    std::optional<TestServer> server;
};

TEST(HttpClient, HttpsWithATrustedCertificateWorksAndReuses) {
    TlsServer tls("DNS:localhost,IP:127.0.0.1");
    TempFile ca(tls.cert.cert_pem);
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.ca_file = ca.path()});
    const auto port = std::to_string(tls.server->port());
    for (const auto& host : {"127.0.0.1", "localhost", "localhost"}) {
        auto r = test::run(ioc, [&]() {
            return client.request(get("https://" + std::string(host) + ":" + port + "/tls"));
        });
        ASSERT_TRUE(r) << host << ": " << r.error().message;
        EXPECT_EQ(r->body, "hello /tls");
    }
    // One connection per (scheme, host, port): 127.0.0.1 and localhost are two origins.
    EXPECT_EQ(client.stats().connections_opened, 2u);
}

TEST(HttpClient, HttpsRejectsAnUntrustedCertificate) {
    TlsServer tls("DNS:localhost,IP:127.0.0.1");
    asio::io_context ioc;
    Client client(ioc.get_executor());  // system CAs only
    auto r = test::run(ioc, [&]() { return client.request(get(tls.server->url("/"))); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect_failed);
    EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
        << r.error().message;
}

TEST(HttpClient, HttpsRejectsACertificateForAnotherHost) {
    TlsServer tls("DNS:example.com");
    TempFile ca(tls.cert.cert_pem);
    asio::io_context ioc;
    Client client(ioc.get_executor(), ClientSettings{.ca_file = ca.path()});
    auto r = test::run(ioc, [&]() {
        return client.request(get("https://localhost:" + std::to_string(tls.server->port()) + "/"));
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect_failed) << r.error().message;
}

}  // namespace
}  // namespace confidant::http_client
