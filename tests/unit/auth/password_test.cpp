#include "auth/password.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <string>
#include <vector>

namespace confidant::auth {
namespace {

template <class T>
T run_task(Task<T> task) {
    boost::asio::io_context ctx;
    auto future = boost::asio::co_spawn(ctx, std::move(task), boost::asio::use_future);
    ctx.run();
    return future.get();
}

class PasswordTest : public ::testing::Test {
  protected:
    BlockingPool pool_{2, "argon2"};
    PasswordHasher hasher_{PasswordSettings::fast(), pool_};
};

TEST_F(PasswordTest, HashThenVerify) {
    const std::string hash = run_task(hasher_.hash("correct horse battery staple")).value();
    EXPECT_EQ(hash.rfind("$argon2id$v=19$m=8192,t=1,p=1$", 0), 0u) << hash;
    EXPECT_TRUE(run_task(hasher_.verify(hash, "correct horse battery staple")).value());
    EXPECT_FALSE(run_task(hasher_.verify(hash, "correct horse battery stapl")).value());
    EXPECT_FALSE(run_task(hasher_.verify(hash, "Correct horse battery staple")).value());
    EXPECT_FALSE(run_task(hasher_.verify(hash, "")).value());
}

TEST_F(PasswordTest, SamePasswordHashesDifferently) {
    const std::string a = run_task(hasher_.hash("hunter22")).value();
    const std::string b = run_task(hasher_.hash("hunter22")).value();
    EXPECT_NE(a, b);  // a fresh salt each time
    EXPECT_TRUE(run_task(hasher_.verify(a, "hunter22")).value());
    EXPECT_TRUE(run_task(hasher_.verify(b, "hunter22")).value());
}

TEST_F(PasswordTest, UnicodeAndLongPasswords) {
    const std::string unicode = "pässwörd 密码 🔑";
    const std::string hash = run_task(hasher_.hash(unicode)).value();
    EXPECT_TRUE(run_task(hasher_.verify(hash, unicode)).value());
    EXPECT_FALSE(run_task(hasher_.verify(hash, "passwörd 密码 🔑")).value());
    const std::string long_password(128, 'p');
    const std::string long_hash = run_task(hasher_.hash(long_password)).value();
    EXPECT_TRUE(run_task(hasher_.verify(long_hash, long_password)).value());
    EXPECT_FALSE(run_task(hasher_.verify(long_hash, std::string(127, 'p'))).value());
}

TEST_F(PasswordTest, MalformedHashesNeverVerify) {
    EXPECT_FALSE(run_task(hasher_.verify("", "x")).value());
    EXPECT_FALSE(run_task(hasher_.verify("not a hash", "x")).value());
    EXPECT_FALSE(run_task(hasher_.verify("$argon2id$v=19$m=8192,t=1,p=1$", "x")).value());
    EXPECT_FALSE(run_task(hasher_.verify(std::string(1000, '$'), "x")).value());
    std::string with_nul = run_task(hasher_.hash("x")).value();
    with_nul.insert(5, 1, '\0');
    EXPECT_FALSE(run_task(hasher_.verify(with_nul, "x")).value());
}

TEST_F(PasswordTest, BurnVerifyRunsAndRepeats) {
    EXPECT_TRUE(run_task(hasher_.burn_verify()).has_value());
    EXPECT_TRUE(run_task(hasher_.burn_verify()).has_value());
}

TEST_F(PasswordTest, AFullQueueRefusesAtOnce) {
    // One pool thread, at most one job waiting: a third concurrent call is refused with
    // not_ready (and a retry hint) instead of queueing; once the queue drains, calls go through.
    BlockingPool one(1, "argon2-test");
    PasswordHasher bounded(PasswordSettings::fast(), one, 1);
    boost::asio::io_context ctx;
    std::vector<std::future<Result<std::string>>> results;
    for (int i = 0; i < 3; ++i) {
        results.push_back(
            boost::asio::co_spawn(ctx, bounded.hash("pw-" + std::to_string(i)), boost::asio::use_future));
    }
    ctx.run();
    int refused = 0;
    for (auto& f : results) {
        auto r = f.get();
        if (!r) {
            ++refused;
            EXPECT_EQ(r.error().code, ErrorCode::not_ready);
            EXPECT_EQ(r.error().retry_after_s, 1);
        }
    }
    EXPECT_EQ(refused, 1);
    EXPECT_EQ(bounded.refused(), 1u);
    EXPECT_EQ(bounded.in_flight(), 0u);
    EXPECT_TRUE(run_task(bounded.hash("again")).has_value());
}

TEST_F(PasswordTest, NeedsRehashWhenSettingsChange) {
    const std::string fast_hash = run_task(hasher_.hash("pw")).value();
    EXPECT_FALSE(hasher_.needs_rehash(fast_hash));
    PasswordHasher interactive(PasswordSettings{}, pool_);
    EXPECT_TRUE(interactive.needs_rehash(fast_hash));
    EXPECT_TRUE(hasher_.needs_rehash("garbage"));
    // Verification follows the hash's own parameters, whatever the current settings.
    EXPECT_TRUE(run_task(interactive.verify(fast_hash, "pw")).value());
}

TEST_F(PasswordTest, DefaultsAreLibsodiumInteractive) {
    PasswordHasher interactive(PasswordSettings{}, pool_);
    const std::string hash = run_task(interactive.hash("pw")).value();
    EXPECT_EQ(hash.rfind("$argon2id$v=19$m=65536,t=2,p=1$", 0), 0u) << hash;
    EXPECT_TRUE(run_task(interactive.verify(hash, "pw")).value());
    EXPECT_FALSE(interactive.needs_rehash(hash));
}

TEST_F(PasswordTest, RejectsLimitsBelowTheMinimum) {
    EXPECT_THROW(PasswordHasher(PasswordSettings{0, 8 * 1024 * 1024}, pool_),
                 std::invalid_argument);
    EXPECT_THROW(PasswordHasher(PasswordSettings{1, 1024}, pool_), std::invalid_argument);
}

}  // namespace
}  // namespace confidant::auth
