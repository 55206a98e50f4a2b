#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/settings.hpp"

using confidant::config::ConfigError;
using confidant::config::Environment;
using confidant::config::load;
using confidant::config::is_loopback_url;
using confidant::config::parse_dotenv;
using confidant::config::redact_url;

namespace {
std::string error_of(const Environment& env) {
    try {
        load(env);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST(Config, DefaultsMatchDesign) {
    const auto s = load({});
    EXPECT_EQ(s.port, 8000);
    EXPECT_EQ(s.host, "127.0.0.1");
    EXPECT_EQ(s.redis_max_connections, 50u);
    EXPECT_EQ(s.redis_health_check_interval_s, 30);
    EXPECT_TRUE(s.redis_retry_on_timeout);
    EXPECT_EQ(s.redis_retry_attempts, 2);
    EXPECT_DOUBLE_EQ(s.redis_retry_min_wait_s, 0.5);
    EXPECT_DOUBLE_EQ(s.redis_retry_max_wait_s, 2.0);
    EXPECT_EQ(s.cache_ttl_s, 600);
    EXPECT_EQ(s.admin_rate_limit_per_minute, 10);
    EXPECT_EQ(s.max_body_bytes, 1u << 20);
    EXPECT_EQ(s.free_messages_per_day, 50);
    EXPECT_EQ(s.premium_messages_per_day, 1000);
    EXPECT_EQ(s.history_context_messages, 20);
    EXPECT_EQ(s.chat_history_retention_days, 90);
    EXPECT_EQ(s.db_pool_size, 20u);
    EXPECT_EQ(s.db_max_overflow, 10u);
    EXPECT_EQ(s.db_pool_recycle_s, 1800);
    EXPECT_DOUBLE_EQ(s.db_pool_timeout_s, 5.0);
    EXPECT_EQ(s.llm_provider, "offline");
    EXPECT_FALSE(s.redis_url.has_value());
    EXPECT_FALSE(s.jwt_secret.has_value());
    EXPECT_EQ(s.data_dir, "./data");
    EXPECT_EQ(s.database_url, "sqlite://./data/confidant.db");
    EXPECT_EQ(s.login_failures_per_window, 5);
    EXPECT_EQ(s.login_failure_window_s, 900);
    EXPECT_EQ(s.registrations_per_hour, 20);
    EXPECT_EQ(s.password_hash_queue, 64u);
}

TEST(Config, TheDataDirectoryHoldsTheDefaultDatabase) {
    EXPECT_EQ(load({{"DATA_DIR", "/var/lib/confidant"}}).database_url,
              "sqlite:///var/lib/confidant/confidant.db");
    EXPECT_EQ(
        load({{"DATA_DIR", "/x"}, {"DATABASE_URL", "sqlite:///elsewhere.db"}}).database_url,
        "sqlite:///elsewhere.db");
}

TEST(Config, SecretsAreSharedLongAndNeverEchoed) {
    // Several instances (Redis) must share one secret; a short one is refused.
    const auto without = error_of({{"REDIS_URL", "redis://r:6379/0"}});
    EXPECT_NE(without.find("JWT_SECRET"), std::string::npos) << without;
    EXPECT_NE(error_of({{"JWT_SECRET", std::string(31, 'x')}}).find("32"), std::string::npos);
    EXPECT_EQ(load({{"JWT_SECRET", std::string(32, 'x')}}).jwt_secret->size(), 32u);
    const auto echoed = error_of({{"REDIS_URL", "rediss://admin:hunter2@cache:6380/0"}});
    EXPECT_NE(echoed.find("REDIS_URL"), std::string::npos);
    EXPECT_EQ(echoed.find("hunter2"), std::string::npos) << echoed;
    EXPECT_EQ(redact_url("postgresql://app:s3cret@db:5432/x?sslmode=require"),
              "postgresql://app:***@db:5432/x?sslmode=require");
    EXPECT_EQ(redact_url("redis://:pw@h:1/0"), "redis://:***@h:1/0");
    EXPECT_EQ(redact_url("redis://h:1/0"), "redis://h:1/0");
    EXPECT_EQ(redact_url("sqlite:///a@b/c.db"), "sqlite:///a@b/c.db");
}

TEST(Config, KeysNeverTravelInClearBeyondLoopback) {
    EXPECT_TRUE(is_loopback_url("http://127.0.0.1:8080"));
    EXPECT_TRUE(is_loopback_url("http://localhost/v1"));
    EXPECT_TRUE(is_loopback_url("http://[::1]:9/"));
    EXPECT_FALSE(is_loopback_url("http://127.0.0.1.evil.com/"));
    EXPECT_FALSE(is_loopback_url("http://10.0.0.1:8080"));
    EXPECT_FALSE(is_loopback_url("http://localhost.example.com"));
    EXPECT_NE(error_of({{"GEMINI_API_KEY", "k"}, {"GEMINI_BASE_URL", "http://gemini.example.com"}})
                  .find("GEMINI_BASE_URL"),
              std::string::npos);
    EXPECT_EQ(load({{"GEMINI_API_KEY", "k"}, {"GEMINI_BASE_URL", "http://127.0.0.1:9999"}})
                  .gemini_base_url,
              "http://127.0.0.1:9999");
    EXPECT_NE(error_of({{"OPENAI_API_KEY", "k"}, {"OPENAI_BASE_URL", "http://10.1.1.1:8080"}})
                  .find("OPENAI_BASE_URL"),
              std::string::npos);
    // Without a key there is nothing to leak: a LAN llama.cpp is fine.
    EXPECT_EQ(load({{"OPENAI_BASE_URL", "http://10.1.1.1:8080"}}).openai_base_url,
              "http://10.1.1.1:8080");
}

TEST(Config, ParsesValues) {
    const auto s = load({{"PORT", "9000"},
                         {"REDIS_URL", "redis://localhost:6380/2"},
                         {"JWT_SECRET", "0123456789abcdef0123456789abcdef"},
                         {"REDIS_RETRY_ON_TIMEOUT", "false"},
                         {"REDIS_RETRY_MIN_WAIT", "0.25"},
                         {"LOG_FORMAT", "json"},
                         {"CACHE_ENABLED", "0"}});
    EXPECT_EQ(s.port, 9000);
    EXPECT_EQ(*s.redis_url, "redis://localhost:6380/2");
    EXPECT_FALSE(s.redis_retry_on_timeout);
    EXPECT_DOUBLE_EQ(s.redis_retry_min_wait_s, 0.25);
    EXPECT_EQ(s.log_format, "json");
    EXPECT_FALSE(s.cache_enabled);
}

TEST(Config, GeminiIsDefaultWithAKey) {
    EXPECT_EQ(load({{"GEMINI_API_KEY", "k"}}).llm_provider, "gemini");
    EXPECT_EQ(load({{"GEMINI_API_KEY", "k"}, {"LLM_PROVIDER", "offline"}}).llm_provider, "offline");
    EXPECT_NE(error_of({{"LLM_PROVIDER", "gemini"}}).find("GEMINI_API_KEY"), std::string::npos);
}

TEST(Config, BadValuesNameTheVariable) {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"PORT", "x"},
        {"PORT", "65536"},
        {"PORT", "80x"},
        {"MAX_BODY_BYTES", "0"},
        {"REDIS_URL", "http://x"},
        {"REDIS_RETRY_ATTEMPTS", "-1"},
        {"REDIS_RETRY_MIN_WAIT", "abc"},
        {"REDIS_RETRY_ON_TIMEOUT", "perhaps"},
        {"LOG_LEVEL", "loud"},
        {"LLM_PROVIDER", "x"},
        {"DATABASE_URL", "mysql://db"},
        {"DATABASE_URL", "postgresql://h/db?sslmode=sometimes"},
        {"DATABASE_URL", "host=h bogus_option=1"},
        {"DB_POOL_TIMEOUT", "0"},
        {"DB_POOL_TIMEOUT", "soon"},
        {"JWT_SECRET", "short"},
        {"LOGIN_FAILURES_PER_WINDOW", "-1"},
        {"LOGIN_FAILURE_WINDOW_SECONDS", "0"},
        {"REGISTRATIONS_PER_HOUR", "x"},
        {"PASSWORD_HASH_QUEUE", "-5"},
        {"LLM_BREAKER_FAILURE_RATE", "1.5"},
        {"QUEUE_BACKEND", "kafka"},
        {"GEMINI_BASE_URL", "ftp://x"},
    };
    for (const auto& [name, value] : bad) {
        const auto err = error_of({{name, value}});
        EXPECT_NE(err.find(name), std::string::npos) << name << "=" << value << " gave: " << err;
    }
    EXPECT_NE(error_of({{"REDIS_RETRY_MIN_WAIT", "3"}, {"REDIS_RETRY_MAX_WAIT", "1"}})
                  .find("REDIS_RETRY_MAX_WAIT"),
              std::string::npos);
    EXPECT_NE(error_of({{"ADMIN_USERNAME", "root"}}).find("ADMIN_PASSWORD"), std::string::npos);
}

TEST(Config, PostgresUrlsAreCheckedByLibpq) {
    EXPECT_DOUBLE_EQ(load({{"DB_POOL_TIMEOUT", "0.5"}}).db_pool_timeout_s, 0.5);
    // Well-formed URL and keyword forms get past the parser (to the not-yet-built notice).
    for (const char* ok : {"postgresql://u:p@db:5432/app?sslmode=require",
                           "host=db port=5432 dbname=app sslmode=verify-full"}) {
        const auto err = error_of({{"DATABASE_URL", ok}});
        EXPECT_NE(err.find("not built yet"), std::string::npos) << ok << ": " << err;
    }
    const auto bad = error_of({{"DATABASE_URL", "postgresql://h/db?sslmode=sometimes"}});
    EXPECT_EQ(bad.rfind("DATABASE_URL: ", 0), 0u) << bad;
    EXPECT_NE(bad.find("sslmode"), std::string::npos) << bad;
}

TEST(Config, SpeechSettings) {
    const auto defaults = load({});
    EXPECT_EQ(defaults.tts_provider, "espeak");
    EXPECT_EQ(defaults.gemini_tts_model, "gemini-2.5-flash-preview-tts");
    EXPECT_EQ(defaults.espeak_voice, "en");
    EXPECT_EQ(defaults.espeak_rate_wpm, 175);
    EXPECT_EQ(defaults.audio_dir, "./data/audio");
    const auto s = load({{"TTS_PROVIDER", "gemini"},
                         {"GEMINI_API_KEY", "k"},
                         {"GEMINI_TTS_MODEL", "gemini-2.5-pro-preview-tts"},
                         {"ESPEAK_VOICE", "en-us"},
                         {"ESPEAK_RATE", "220"},
                         {"AUDIO_DIR", "/var/lib/confidant/audio"}});
    EXPECT_EQ(s.tts_provider, "gemini");
    EXPECT_EQ(s.gemini_tts_model, "gemini-2.5-pro-preview-tts");
    EXPECT_EQ(s.espeak_voice, "en-us");
    EXPECT_EQ(s.espeak_rate_wpm, 220);
    EXPECT_EQ(s.audio_dir, "/var/lib/confidant/audio");
    EXPECT_EQ(load({{"DATA_DIR", "/srv/c"}}).audio_dir, "/srv/c/audio");
    EXPECT_NE(error_of({{"TTS_PROVIDER", "gemini"}}).find("GEMINI_API_KEY"), std::string::npos);
    for (const auto& [name, value] :
         std::vector<std::pair<std::string, std::string>>{{"TTS_PROVIDER", "festival"},
                                                          {"GEMINI_TTS_MODEL", "../models/x"},
                                                          {"ESPEAK_VOICE", "en us"},
                                                          {"ESPEAK_RATE", "20"},
                                                          {"ESPEAK_RATE", "fast"}}) {
        const auto err = error_of({{name, value}});
        EXPECT_NE(err.find(name), std::string::npos) << name << "=" << value << " gave: " << err;
    }
}

TEST(Config, DotenvSyntax) {
    const auto env = parse_dotenv(
        "# comment\n\nG=   # only a comment\nexport A=1\nB = two words \nC=\"quoted # not a "
        "comment\"\nD='single'\nE=val # trailing\nF=\n");
    EXPECT_EQ(env.at("A"), "1");
    EXPECT_EQ(env.at("B"), "two words");
    EXPECT_EQ(env.at("C"), "quoted # not a comment");
    EXPECT_EQ(env.at("D"), "single");
    EXPECT_EQ(env.at("E"), "val");
    EXPECT_EQ(env.at("F"), "");
    EXPECT_EQ(env.at("G"), "");
    EXPECT_THROW(parse_dotenv("NOEQUALS\n"), ConfigError);
    EXPECT_THROW(parse_dotenv("BAD-NAME=1\n"), ConfigError);
}

TEST(Config, EnvExampleLoadsAsDefaults) {
    std::ifstream f(ENV_EXAMPLE_PATH);
    ASSERT_TRUE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    const auto env = parse_dotenv(ss.str());
    const auto from_file = load(env);
    const auto defaults = load({});
    EXPECT_EQ(from_file.port, defaults.port);
    EXPECT_EQ(from_file.database_url, defaults.database_url);
    EXPECT_EQ(from_file.cache_ttl_s, defaults.cache_ttl_s);
    EXPECT_EQ(from_file.llm_provider, defaults.llm_provider);
    EXPECT_EQ(from_file.llm_max_concurrent, defaults.llm_max_concurrent);
    EXPECT_EQ(from_file.redis_url.has_value(), defaults.redis_url.has_value());
    EXPECT_EQ(from_file.schedules, defaults.schedules);
    // Every variable the loader knows is documented in .env.example.
    for (const char* name :
         {"HOST", "PORT", "DATABASE_URL", "REDIS_URL", "REDIS_MAX_CONNECTIONS", "CACHE_TTL_SECONDS",
          "JWT_SECRET", "ADMIN_RATE_LIMIT_PER_MINUTE", "LLM_PROVIDER", "GEMINI_API_KEY",
          "FREE_MESSAGES_PER_DAY", "LOG_FORMAT", "MAX_BODY_BYTES", "QUEUE_BACKEND", "DATA_DIR",
          "LOGIN_FAILURES_PER_WINDOW", "LOGIN_FAILURE_WINDOW_SECONDS", "REGISTRATIONS_PER_HOUR",
          "PASSWORD_HASH_QUEUE", "MAX_CONNECTIONS", "BODY_TIMEOUT_SECONDS", "WRITE_TIMEOUT_SECONDS",
          "TRUSTED_PROXIES", "DB_POOL_TIMEOUT", "TTS_PROVIDER", "GEMINI_TTS_MODEL", "ESPEAK_VOICE",
          "ESPEAK_RATE", "AUDIO_DIR"}) {
        EXPECT_TRUE(env.count(name)) << name;
    }
    const std::vector<std::string> scheduler_names = {"SCHEDULER_ENABLED",
                                                      "SCHEDULER_LEASE_SECONDS",
                                                      "SCHEDULE_CHAT_HISTORY_CLEANUP",
                                                      "SCHEDULE_SUBSCRIPTION_EXPIRY",
                                                      "SCHEDULE_CACHE_METRICS",
                                                      "SCHEDULE_CACHE_WARMUP",
                                                      "SCHEDULE_PARTITION_MAINTENANCE",
                                                      "SCHEDULE_COGNITIVE_CYCLE"};
    for (const auto& name : scheduler_names) {
        EXPECT_TRUE(env.count(name)) << name;
    }
}

TEST(Config, SchedulerSettings) {
    const auto defaults = load({});
    EXPECT_TRUE(defaults.scheduler_enabled);
    EXPECT_EQ(defaults.scheduler_lease_s, 30);
    EXPECT_TRUE(defaults.schedules.empty());
    const auto s = load({{"SCHEDULER_ENABLED", "false"},
                         {"SCHEDULER_LEASE_SECONDS", "10"},
                         {"SCHEDULE_CACHE_METRICS", " @every 30s "},
                         {"SCHEDULE_CHAT_HISTORY_CLEANUP", "15 4 * * SUN"},
                         {"SCHEDULE_CACHE_WARMUP", "off"},
                         {"SCHEDULE_COGNITIVE_CYCLE", ""}});
    EXPECT_FALSE(s.scheduler_enabled);
    EXPECT_EQ(s.scheduler_lease_s, 10);
    EXPECT_EQ(s.schedules,
              (std::map<std::string, std::string>{{"cache_metrics", "@every 30s"},
                                                  {"chat_history_cleanup", "15 4 * * SUN"},
                                                  {"cache_warmup", "off"}}));
}

TEST(Config, BadSchedulesNameTheVariable) {
    EXPECT_EQ(error_of({{"SCHEDULE_CHAT_HISTORY_CLEANUP", "0 3 32 * *"}}),
              "SCHEDULE_CHAT_HISTORY_CLEANUP: day-of-month: 32 is out of range 1..31");
    EXPECT_EQ(error_of({{"SCHEDULE_CACHE_METRICS", "@every 5d"}}),
              "SCHEDULE_CACHE_METRICS: @every: expected a positive whole number followed by s, m "
              "or h (e.g. @every 5m), got '5d'");
    EXPECT_EQ(error_of({{"SCHEDULE_CACHE_METRIC", "@every 5m"}}),
              "SCHEDULE_CACHE_METRIC: no scheduler job \"cache_metric\" (jobs: "
              "chat_history_cleanup, subscription_expiry, cache_metrics, cache_warmup, "
              "partition_maintenance, cognitive_cycle)");
    EXPECT_EQ(error_of({{"SCHEDULER_LEASE_SECONDS", "1"}}),
              "SCHEDULER_LEASE_SECONDS: expected an integer in 2..3600, got \"1\"");
    EXPECT_EQ(error_of({{"SCHEDULER_ENABLED", "maybe"}}),
              "SCHEDULER_ENABLED: expected true or false, got \"maybe\"");
}

TEST(Config, ConnectionLimitsAndTimeouts) {
    const auto d = load({});
    EXPECT_EQ(d.max_connections, 0u);  // sized to the file limit at start-up
    EXPECT_EQ(d.body_timeout_s, 30);
    EXPECT_EQ(d.write_timeout_s, 30);
    EXPECT_TRUE(d.trusted_proxies.empty());
    const auto s = load(
        {{"MAX_CONNECTIONS", "20"}, {"BODY_TIMEOUT_SECONDS", "5"}, {"WRITE_TIMEOUT_SECONDS", "7"}});
    EXPECT_EQ(s.max_connections, 20u);
    EXPECT_EQ(s.body_timeout_s, 5);
    EXPECT_EQ(s.write_timeout_s, 7);
    EXPECT_NE(error_of({{"MAX_CONNECTIONS", "-1"}}).find("MAX_CONNECTIONS"), std::string::npos);
    EXPECT_NE(error_of({{"BODY_TIMEOUT_SECONDS", "0"}}).find("BODY_TIMEOUT_SECONDS"),
              std::string::npos);
    EXPECT_NE(error_of({{"WRITE_TIMEOUT_SECONDS", "x"}}).find("WRITE_TIMEOUT_SECONDS"),
              std::string::npos);
}

TEST(Config, TrustedProxies) {
    const auto s = load({{"TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ,fd00::/8"}});
    ASSERT_EQ(s.trusted_proxies.size(), 3u);
    EXPECT_TRUE(s.trusted_proxies[0].contains(*confidant::http::IpAddress::parse("10.9.8.7")));
    EXPECT_TRUE(s.trusted_proxies[2].contains(*confidant::http::IpAddress::parse("fd00::1")));
    const auto e = error_of({{"TRUSTED_PROXIES", "10.0.0.0/8, lb.internal"}});
    EXPECT_EQ(e.rfind("TRUSTED_PROXIES:", 0), 0u) << e;
    EXPECT_NE(e.find("lb.internal"), std::string::npos) << e;
    EXPECT_NE(error_of({{"TRUSTED_PROXIES", "10.0.0.0/40"}}).find("TRUSTED_PROXIES"),
              std::string::npos);
}
