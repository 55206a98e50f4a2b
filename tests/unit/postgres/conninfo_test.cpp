#include "storage/postgres/conninfo.hpp"

#include <gtest/gtest.h>

namespace confidant::storage::pg {
namespace {

TEST(PgConnInfo, UrlForm) {
    auto r = parse_conninfo("postgresql://app:s3cret@db.example:6543/confidant?sslmode=require");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->get("host"), "db.example");
    EXPECT_EQ(r->get("port"), "6543");
    EXPECT_EQ(r->get("dbname"), "confidant");
    EXPECT_EQ(r->get("user"), "app");
    EXPECT_EQ(r->get("password"), "s3cret");
    EXPECT_EQ(r->get("sslmode"), "require");
    // The description never shows the password.
    EXPECT_EQ(r->describe(), "app@db.example:6543/confidant");
    EXPECT_TRUE(parse_conninfo("postgres://localhost/x"));
}

TEST(PgConnInfo, KeywordForm) {
    auto r = parse_conninfo("host=127.0.0.1 port=5432 dbname=app user=me sslmode=disable");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->get("host"), "127.0.0.1");
    EXPECT_EQ(r->get("sslmode"), "disable");
    EXPECT_FALSE(r->has("password"));
    EXPECT_EQ(r->describe(), "me@127.0.0.1:5432/app");
}

TEST(PgConnInfo, ErrorsAreOneLineNamingTheVariable) {
    for (const char* bad :
         {"", "   ", "mysql://db/x", "sqlite://./data/x.db", "postgresql://host:99999/db",
          "host=x bogus_option=1", "postgresql://h/db?sslmode=sometimes", "host=x port=abc",
          "postgresql://[::1/db"}) {
        auto r = parse_conninfo(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().rfind("DATABASE_URL: ", 0), 0u) << r.error();
        EXPECT_EQ(r.error().find('\n'), std::string::npos) << r.error();
    }
    EXPECT_NE(parse_conninfo("host=x bogus_option=1").error().find("bogus_option"),
              std::string::npos);
    EXPECT_NE(parse_conninfo("postgresql://h/db?sslmode=sometimes").error().find("sslmode"),
              std::string::npos);
}

TEST(PgConnInfo, LooksLikeConninfo) {
    EXPECT_TRUE(looks_like_conninfo("postgresql://x"));
    EXPECT_TRUE(looks_like_conninfo("postgres://x"));
    EXPECT_TRUE(looks_like_conninfo("host=x dbname=y"));
    EXPECT_FALSE(looks_like_conninfo("sqlite://./data/confidant.db"));
    EXPECT_FALSE(looks_like_conninfo("./data/confidant.db"));
}

TEST(PgConnInfo, SetReplacesOrAdds) {
    auto r = parse_conninfo("host=a");
    ASSERT_TRUE(r);
    r->set("host", "b");
    r->set("hostaddr", "127.0.0.1");
    EXPECT_EQ(r->get("host"), "b");
    EXPECT_EQ(r->get("hostaddr"), "127.0.0.1");
}

}  // namespace
}  // namespace confidant::storage::pg
