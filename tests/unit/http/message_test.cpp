#include "http/message.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

using namespace confidant;

TEST(Request, QueryParametersAreDecoded) {
    http::Request req;
    req.query = "limit=10&before=5&name=a%20b+c&empty=&flag";
    EXPECT_EQ(*req.query_param("limit"), "10");
    EXPECT_EQ(*req.query_param("before"), "5");
    EXPECT_EQ(*req.query_param("name"), "a b c");
    EXPECT_EQ(*req.query_param("empty"), "");
    EXPECT_EQ(*req.query_param("flag"), "");
    EXPECT_FALSE(req.query_param("missing").has_value());
}

TEST(Response, ErrorShape) {
    auto r = http::error_response(429, "rate_limited", "slow \"down\"", 0);
    EXPECT_EQ(r.status, 429u);
    auto v = boost::json::parse(r.body);
    EXPECT_EQ(v.at("error").at("code").as_string(), "rate_limited");
    EXPECT_EQ(v.at("error").at("message").as_string(), "slow \"down\"");
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "Retry-After");
    EXPECT_EQ(r.headers[0].second, "1");  // whole seconds, at least 1
}
