#include "redis/url.hpp"

#include <gtest/gtest.h>

namespace confidant::redis {
namespace {

TEST(RedisUrl, ParsesEveryPart) {
    auto u = parse_url("redis://alice:p%40ss%3Aword@cache.internal:6380/3");
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_EQ(u->host, "cache.internal");
    EXPECT_EQ(u->port, 6380);
    EXPECT_EQ(u->user, "alice");
    EXPECT_EQ(u->password, "p@ss:word");
    EXPECT_EQ(u->db, 3);
}

TEST(RedisUrl, AppliesDefaults) {
    auto u = parse_url("redis://localhost");
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_EQ(u->host, "localhost");
    EXPECT_EQ(u->port, 6379);
    EXPECT_EQ(u->user, "");
    EXPECT_EQ(u->password, "");
    EXPECT_EQ(u->db, 0);
    auto slash = parse_url("redis://10.0.0.7:7000/");
    ASSERT_TRUE(slash);
    EXPECT_EQ(slash->host, "10.0.0.7");
    EXPECT_EQ(slash->port, 7000);
    EXPECT_EQ(slash->db, 0);
}

TEST(RedisUrl, PasswordWithoutUser) {
    auto u = parse_url("redis://:secret@h:1/0");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->user, "");
    EXPECT_EQ(u->password, "secret");
    auto legacy = parse_url("redis://secret@h");
    ASSERT_TRUE(legacy);
    EXPECT_EQ(legacy->user, "");
    EXPECT_EQ(legacy->password, "secret");
}

TEST(RedisUrl, Ipv6Literal) {
    auto u = parse_url("redis://[::1]:7001/2");
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 7001);
    EXPECT_EQ(u->db, 2);
}

TEST(RedisUrl, RejectsMalformed) {
    for (const char* bad : {"", "localhost:6379", "http://h:1", "rediss://h:6380", "redis://",
                            "redis://h:0", "redis://h:65536", "redis://h:12ab", "redis://h/abc",
                            "redis://h/-1", "redis://h/1/2", "redis://h?db=1", "redis://h:1 2"}) {
        auto u = parse_url(bad);
        EXPECT_FALSE(u) << "accepted: '" << bad << "'";
        if (!u) {
            EXPECT_EQ(u.error().code, ErrorCode::bad_request);
            EXPECT_NE(u.error().message.find("REDIS_URL"), std::string::npos) << u.error().message;
        }
    }
    auto tls = parse_url("rediss://h:6380");
    ASSERT_FALSE(tls);
    EXPECT_NE(tls.error().message.find("TLS"), std::string::npos);
}

}  // namespace
}  // namespace confidant::redis
