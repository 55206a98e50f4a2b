#include "http/request_body.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <string>

using namespace confidant;
namespace bhttp = boost::beast::http;

namespace {

// Feeds `text` to a request parser in pieces of `step` bytes.
void feed(bhttp::request_parser<http::RequestBody>& parser, std::string_view text,
          std::size_t step) {
    parser.eager(true);
    boost::system::error_code ec;
    std::string pending;
    for (std::size_t i = 0; i < text.size(); i += step) {
        pending.append(text.substr(i, step));
        const auto used = parser.put(boost::asio::buffer(pending), ec);
        if (ec == bhttp::error::need_more) {
            ec = {};
        }
        ASSERT_FALSE(ec) << ec.message();
        pending.erase(0, used);
    }
}

}  // namespace

TEST(RequestBody, AnnouncedLengthIsNotReservedUpFront) {
    bhttp::request_parser<http::RequestBody> parser;
    parser.body_limit(2 << 20);
    feed(parser, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\nab", 7);
    EXPECT_FALSE(parser.is_done());
    EXPECT_EQ(parser.get().body(), "ab");
    // string_body would hold a megabyte here; this holds what arrived, within a small floor.
    EXPECT_LE(parser.get().body().capacity(), http::RequestBody::kInitialReserve);
}

TEST(RequestBody, GrowsWithTheBytesReceived) {
    bhttp::request_parser<http::RequestBody> parser;
    parser.body_limit(2 << 20);
    const std::string head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n";
    const std::string part(100'000, 'x');
    feed(parser, head + part, 4096);
    ASSERT_EQ(parser.get().body().size(), part.size());
    EXPECT_GE(parser.get().body().capacity(), part.size());
    EXPECT_LE(parser.get().body().capacity(), 2 * part.size() + http::RequestBody::kInitialReserve);
}

TEST(RequestBody, SmallBodyIsOneReservation) {
    bhttp::request_parser<http::RequestBody> parser;
    const std::string body = R"({"message": "hello"})";
    feed(parser,
         "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n\r\n" + body,
         1);
    ASSERT_TRUE(parser.is_done());
    EXPECT_EQ(parser.get().body(), body);
}

TEST(RequestBody, ChunkedBodyIsJoined) {
    bhttp::request_parser<http::RequestBody> parser;
    feed(parser,
         "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
         3);
    ASSERT_TRUE(parser.is_done());
    EXPECT_EQ(parser.get().body(), "hello world");
}

TEST(RequestBody, BodyLimitStillHolds) {
    bhttp::request_parser<http::RequestBody> parser;
    parser.body_limit(10);
    parser.eager(true);
    boost::system::error_code ec;
    const std::string text = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
    parser.put(boost::asio::buffer(text), ec);
    EXPECT_EQ(ec, bhttp::error::body_limit);
}
