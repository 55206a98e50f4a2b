#include "http/router.hpp"

#include <gtest/gtest.h>

using namespace confidant;
using confidant::http::bhttp::verb;

namespace {
http::Handler named(std::string name) {
    return [name](http::Request&) -> Task<http::Response> {
        co_return http::Response::json(200, name);
    };
}
}  // namespace

TEST(Router, MatchesExactAndParameterisedRoutes) {
    http::Router r;
    r.add(verb::get, "/v1/me", named("me"));
    r.add(verb::patch, "/v1/me", named("patch-me"));
    r.add(verb::get, "/v1/jobs/{id}", named("job"));
    r.add(verb::post, "/admin/users/{id}/premium", named("premium"));

    auto m = r.match(verb::get, "/v1/me");
    ASSERT_NE(m.route, nullptr);
    EXPECT_EQ(m.route->pattern, "/v1/me");
    EXPECT_EQ(r.match(verb::patch, "/v1/me").route->method, verb::patch);

    m = r.match(verb::get, "/v1/jobs/abc-1");
    ASSERT_NE(m.route, nullptr);
    ASSERT_EQ(m.params.size(), 1u);
    EXPECT_EQ(m.params[0].first, "id");
    EXPECT_EQ(m.params[0].second, "abc-1");

    m = r.match(verb::post, "/admin/users/42/premium");
    ASSERT_NE(m.route, nullptr);
    EXPECT_EQ(m.params[0].second, "42");
}

TEST(Router, UnknownPathAndWrongMethod) {
    http::Router r;
    r.add(verb::get, "/v1/me", named("me"));
    r.add(verb::patch, "/v1/me", named("patch-me"));
    r.add(verb::get, "/v1/jobs/{id}", named("job"));

    auto m = r.match(verb::get, "/v1/you");
    EXPECT_EQ(m.route, nullptr);
    EXPECT_FALSE(m.path_known);

    m = r.match(verb::delete_, "/v1/me");
    EXPECT_EQ(m.route, nullptr);
    EXPECT_TRUE(m.path_known);
    EXPECT_EQ(m.allow, "GET, PATCH");

    m = r.match(verb::post, "/v1/jobs/7");
    EXPECT_EQ(m.route, nullptr);
    EXPECT_TRUE(m.path_known);
    EXPECT_EQ(m.allow, "GET");

    EXPECT_EQ(r.match(verb::get, "/v1/jobs").route, nullptr);
    EXPECT_EQ(r.match(verb::get, "/v1/jobs/7/extra").route, nullptr);
    EXPECT_EQ(r.match(verb::get, "/v1/me/").route, nullptr);
}

TEST(Router, HeadFallsBackToGet) {
    http::Router r;
    r.add(verb::get, "/healthz", named("h"));
    ASSERT_NE(r.match(verb::head, "/healthz").route, nullptr);
}
