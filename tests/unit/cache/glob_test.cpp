#include "cache/glob.hpp"

#include <gtest/gtest.h>

namespace confidant::cache {
namespace {

TEST(GlobMatch, LiteralsAndStar) {
    EXPECT_TRUE(glob_match("user:1", "user:1"));
    EXPECT_FALSE(glob_match("user:1", "user:12"));
    EXPECT_FALSE(glob_match("user:12", "user:1"));
    EXPECT_TRUE(glob_match("user:*", "user:"));
    EXPECT_TRUE(glob_match("user:*", "user:42:profile"));
    EXPECT_FALSE(glob_match("user:*", "users:42"));
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("*", "anything"));
    EXPECT_TRUE(glob_match("", ""));
    EXPECT_FALSE(glob_match("", "a"));
    EXPECT_TRUE(glob_match("*:profile", "user:42:profile"));
    EXPECT_FALSE(glob_match("*:profile", "user:42:profile:x"));
    EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
    EXPECT_TRUE(glob_match("a*b*c", "abc"));
    EXPECT_FALSE(glob_match("a*b*c", "acb"));
    EXPECT_TRUE(glob_match("**a**", "xxaxx"));
    EXPECT_TRUE(glob_match("*aab", "aaaab"));  // needs backtracking past a partial match
}

TEST(GlobMatch, QuestionMark) {
    EXPECT_TRUE(glob_match("h?llo", "hello"));
    EXPECT_TRUE(glob_match("h?llo", "hallo"));
    EXPECT_FALSE(glob_match("h?llo", "hllo"));
    EXPECT_FALSE(glob_match("h?llo", "heello"));
    EXPECT_TRUE(glob_match("???", "abc"));
    EXPECT_FALSE(glob_match("???", "ab"));
}

TEST(GlobMatch, BracketClasses) {
    EXPECT_TRUE(glob_match("h[ae]llo", "hello"));
    EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
    EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
    EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
    EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
    EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
    EXPECT_FALSE(glob_match("h[a-b]llo", "hcllo"));
    EXPECT_TRUE(glob_match("h[b-a]llo", "hallo"));  // reversed range, as in Redis
    EXPECT_TRUE(glob_match("user:[0-9]*", "user:7abc"));
    EXPECT_FALSE(glob_match("user:[0-9]*", "user:x7"));
    EXPECT_TRUE(glob_match("[\\]]", "]"));
    EXPECT_TRUE(glob_match("[a\\-z]", "-"));
    EXPECT_FALSE(glob_match("[a\\-z]", "b"));
    EXPECT_TRUE(glob_match("x[abc", "xb"));  // unterminated class runs to the end
}

TEST(GlobMatch, Escapes) {
    EXPECT_TRUE(glob_match("a\\*b", "a*b"));
    EXPECT_FALSE(glob_match("a\\*b", "axb"));
    EXPECT_TRUE(glob_match("a\\?", "a?"));
    EXPECT_FALSE(glob_match("a\\?", "ab"));
    EXPECT_TRUE(glob_match("\\[x]", "[x]"));
    EXPECT_TRUE(glob_match("a\\\\b", "a\\b"));
    EXPECT_TRUE(glob_match(glob_escape("we*ird?[k]\\"), "we*ird?[k]\\"));
    EXPECT_FALSE(glob_match(glob_escape("a*"), "ab"));
}

TEST(GlobMatch, PathologicalPatternIsFast) {
    // Exponential for a naive recursive matcher; linear-ish here.
    const std::string text(2000, 'a');
    EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
    EXPECT_TRUE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*", text));
}

}  // namespace
}  // namespace confidant::cache
