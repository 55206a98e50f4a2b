#include "http/server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <thread>

#include "http/http_metrics.hpp"
#include "http/router.hpp"

using namespace confidant;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// A real server on a loopback port, one I/O thread, answering GET /whoami with the request's
// client address.
class ServerFixture {
  public:
    explicit ServerFixture(std::string trusted_proxies) {
        router_.add(http::bhttp::verb::get, "/whoami",
                    [](http::Request& req) -> Task<http::Response> {
                        http::Response r;
                        r.content_type = "text/plain";
                        r.body = req.client_address;
                        co_return r;
                    });
        metrics_ = std::make_unique<http::HttpMetrics>(router_);
        http::ServerSettings s;
        s.port = 0;
        std::string bad;
        s.trusted_proxies = http::parse_address_ranges(trusted_proxies, bad).value();
        server_ = std::make_unique<http::Server>(std::vector<asio::io_context*>{&ioc_}, s, router_,
                                                 *metrics_);
        port_ = server_->listen();
        server_->start();
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~ServerFixture() {
        asio::co_spawn(ioc_, server_->drain(), asio::use_future).get();
        ioc_.stop();
        thread_.join();
    }

    // One request on a new connection (Connection: close); returns the body of the answer.
    std::string whoami(const std::string& extra_headers) {
        asio::io_context client;
        tcp::socket s(client);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
        const std::string req =
            "GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra_headers + "\r\n";
        asio::write(s, asio::buffer(req));
        std::string raw;
        boost::system::error_code ec;
        asio::read(s, asio::dynamic_buffer(raw), ec);
        const auto body = raw.find("\r\n\r\n");
        EXPECT_NE(body, std::string::npos) << raw;
        EXPECT_EQ(raw.rfind("HTTP/1.1 200", 0), 0u) << raw;
        return body == std::string::npos ? raw : raw.substr(body + 4);
    }

  private:
    asio::io_context ioc_{1};
    http::Router router_;
    std::unique_ptr<http::HttpMetrics> metrics_;
    std::unique_ptr<http::Server> server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace

TEST(ServerClientAddress, IsThePeerWithoutTrustedProxies) {
    ServerFixture f("");
    EXPECT_EQ(f.whoami(""), "127.0.0.1");
    EXPECT_EQ(f.whoami("X-Forwarded-For: 203.0.113.5\r\n"), "127.0.0.1");
}

TEST(ServerClientAddress, IsThePeerWhenThePeerIsNotTrusted) {
    ServerFixture f("10.0.0.0/8");
    EXPECT_EQ(f.whoami("X-Forwarded-For: 203.0.113.5\r\n"), "127.0.0.1");
}

TEST(ServerClientAddress, ComesFromForwardedForBehindATrustedProxy) {
    ServerFixture f("127.0.0.0/8, 10.0.0.0/8");
    EXPECT_EQ(f.whoami(""), "127.0.0.1");
    EXPECT_EQ(f.whoami("X-Forwarded-For: 203.0.113.5\r\n"), "203.0.113.5");
    EXPECT_EQ(f.whoami("X-Forwarded-For: 6.6.6.6, 198.51.100.1, 10.1.1.1\r\n"), "198.51.100.1");
    EXPECT_EQ(f.whoami("X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 2001:db8::7\r\n"),
              "2001:db8::7");
}
