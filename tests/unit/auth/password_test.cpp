#include "auth/password.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <string>

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
    const std::string hash = run_task(hasher_.hash("correct horse battery staple"));
    EXPECT_EQ(hash.rfind("$argon2id$v=19$m=8192,t=1,p=1$", 0), 0u) << hash;
    EXPECT_TRUE(run_task(hasher_.verify(hash, "correct horse battery staple")));
    EXPECT_FALSE(run_task(hasher_.verify(hash, "correct horse battery stapl")));
    EXPECT_FALSE(run_task(hasher_.verify(hash, "Correct horse battery staple")));
    EXPECT_FALSE(run_task(hasher_.verify(hash, "")));
}

TEST_F(PasswordTest, SamePasswordHashesDifferently) {
    const std::string a = run_task(hasher_.hash("hunter22"));
    const std::string b = run_task(hasher_.hash("hunter22"));
    EXPECT_NE(a, b);  // a fresh salt each time
    EXPECT_TRUE(run_task(hasher_.verify(a, "hunter22")));
    EXPECT_TRUE(run_task(hasher_.verify(b, "hunter22")));
}

TEST_F(PasswordTest, UnicodeAndLongPasswords) {
    const std::string unicode = "pässwörd 密码 🔑";
    const std::string hash = run_task(hasher_.hash(unicode));
    EXPECT_TRUE(run_task(hasher_.verify(hash, unicode)));
    EXPECT_FALSE(run_task(hasher_.verify(hash, "passwörd 密码 🔑")));
    const std::string long_password(128, 'p');
    const std::string long_hash = run_task(hasher_.hash(long_password));
    EXPECT_TRUE(run_task(hasher_.verify(long_hash, long_password)));
    EXPECT_FALSE(run_task(hasher_.verify(long_hash, std::string(127, 'p'))));
}

TEST_F(PasswordTest, MalformedHashesNeverVerify) {
    EXPECT_FALSE(run_task(hasher_.verify("", "x")));
    EXPECT_FALSE(run_task(hasher_.verify("not a hash", "x")));
    EXPECT_FALSE(run_task(hasher_.verify("$argon2id$v=19$m=8192,t=1,p=1$", "x")));
    EXPECT_FALSE(run_task(hasher_.verify(std::string(1000, '$'), "x")));
    std::string with_nul = run_task(hasher_.hash("x"));
    with_nul.insert(5, 1, '\0');
    EXPECT_FALSE(run_task(hasher_.verify(with_nul, "x")));
}

TEST_F(PasswordTest, BurnVerifyRunsAndRepeats) {
    EXPECT_NO_THROW(run_task(hasher_.burn_verify()));
    EXPECT_NO_THROW(run_task(hasher_.burn_verify()));
}

TEST_F(PasswordTest, NeedsRehashWhenSettingsChange) {
    const std::string fast_hash = run_task(hasher_.hash("pw"));
    EXPECT_FALSE(hasher_.needs_rehash(fast_hash));
    PasswordHasher interactive(PasswordSettings{}, pool_);
    EXPECT_TRUE(interactive.needs_rehash(fast_hash));
    EXPECT_TRUE(hasher_.needs_rehash("garbage"));
    // Verification follows the hash's own parameters, whatever the current settings.
    EXPECT_TRUE(run_task(interactive.verify(fast_hash, "pw")));
}

TEST_F(PasswordTest, DefaultsAreLibsodiumInteractive) {
    PasswordHasher interactive(PasswordSettings{}, pool_);
    const std::string hash = run_task(interactive.hash("pw"));
    EXPECT_EQ(hash.rfind("$argon2id$v=19$m=65536,t=2,p=1$", 0), 0u) << hash;
    EXPECT_TRUE(run_task(interactive.verify(hash, "pw")));
    EXPECT_FALSE(interactive.needs_rehash(hash));
}

TEST_F(PasswordTest, RejectsLimitsBelowTheMinimum) {
    EXPECT_THROW(PasswordHasher(PasswordSettings{0, 8 * 1024 * 1024}, pool_),
                 std::invalid_argument);
    EXPECT_THROW(PasswordHasher(PasswordSettings{1, 1024}, pool_), std::invalid_argument);
}

}  // namespace
}  // namespace confidant::auth
