#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "http/client_address.hpp"

namespace confidant::config {

/// Every setting of the program, read from the environment (and `.env`) by `load()`.
/// Components get the part they need as their own Settings struct, built in app/wiring.cpp.
struct Settings {
    // HTTP
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;
    std::size_t http_threads = 0;  ///< 0 = one per core
    std::size_t max_body_bytes = 1 << 20;
    std::size_t max_header_bytes = 16 << 10;
    long header_timeout_s = 10;
    long idle_timeout_s = 60;
    long drain_timeout_s = 10;
    long body_timeout_s = 30;
    long write_timeout_s = 30;
    std::size_t max_connections = 0;                  ///< 0 = sized to the file limit at start-up
    std::vector<http::AddressRange> trusted_proxies;  ///< TRUSTED_PROXIES

    // Storage
    /// Where the server keeps its own files (the generated JWT secret, audio, the default
    /// SQLite database).
    std::string data_dir = "./data";
    std::string database_url = "sqlite://./data/confidant.db";
    std::size_t db_pool_size = 20;
    std::size_t db_max_overflow = 10;
    long db_pool_recycle_s = 1800;
    double db_pool_timeout_s = 5;  ///< DB_POOL_TIMEOUT: a caller waits this long for a connection
    std::size_t sqlite_threads = 0;  ///< 0 = one per core, at least 2

    // Redis and cache
    std::optional<std::string> redis_url;
    std::size_t redis_max_connections = 50;
    long redis_health_check_interval_s = 30;
    bool redis_retry_on_timeout = true;
    int redis_retry_attempts = 2;
    double redis_retry_min_wait_s = 0.5;
    double redis_retry_max_wait_s = 2.0;
    bool cache_enabled = true;
    long cache_ttl_s = 600;
    long cache_l1_ttl_s = 5;
    std::size_t cache_l1_max_entries = 100'000;
    std::size_t cache_l1_max_mb = 64;
    int cache_warmup_users = 1000;

    // Auth
    std::optional<std::string> jwt_secret;
    long jwt_ttl_s = 86400;
    std::optional<std::string> admin_username;
    std::optional<std::string> admin_password;
    long admin_rate_limit_per_minute = 10;
    std::string password_hash_profile = "interactive";  ///< interactive | fast (tests)
    std::size_t password_hash_queue = 64;  ///< hash jobs waiting at most (0 = unbounded)
    long login_failures_per_window = 5;    ///< per username and per client address (0 = off)
    long login_failure_window_s = 900;
    long registrations_per_hour = 20;  ///< per client address (0 = off)

    // Chat and LLM
    std::string llm_provider = "offline";  ///< gemini | openai | offline
    std::optional<std::string> gemini_api_key;
    std::string gemini_model = "gemini-2.0-flash";
    std::string gemini_base_url = "https://generativelanguage.googleapis.com";
    std::string openai_base_url = "http://127.0.0.1:8080";
    std::optional<std::string> openai_api_key;
    std::string openai_model = "gpt-4o-mini";
    long llm_attempt_timeout_ms = 20000;
    long llm_deadline_ms = 45000;
    long llm_first_token_timeout_ms = 15000;
    long llm_stall_timeout_ms = 15000;
    int llm_max_retries = 2;
    double llm_retry_budget_ratio = 0.2;
    std::size_t llm_max_concurrent = 4096;
    int llm_breaker_window = 20;
    int llm_breaker_min_calls = 10;
    double llm_breaker_failure_rate = 0.5;
    double llm_breaker_slow_call_rate = 0.8;
    long llm_breaker_slow_call_ms = 10000;
    long llm_breaker_open_s = 30;
    int llm_breaker_half_open_calls = 3;
    int history_context_messages = 20;
    long free_messages_per_day = 50;
    long premium_messages_per_day = 1000;
    long chat_rate_limit_per_minute = 60;
    long chat_history_retention_days = 90;

    // Scheduler
    bool scheduler_enabled = true;
    long scheduler_lease_s = 30;
    /// SCHEDULE_<JOB_ID> overrides, keyed by job id in lowercase ("cache_metrics"); each value
    /// is a valid schedule (a cron expression, "@every <n>s|m|h", "@startup" or "off").
    std::map<std::string, std::string> schedules;

    // Later subsystems (validated now so a typo fails early)
    std::string queue_backend = "db";
    std::size_t worker_concurrency = 0;  ///< 0 = 4 per core (jobs mostly wait on I/O)
    bool workers_in_serve = true;        ///< false: only `confidant worker` processes run jobs
    double job_lease_s = 30;  ///< a claimed job's lease; a dead worker's jobs return after it
    /// Set: register the `record` job type appending to this file (delivery tests).
    std::optional<std::string> queue_record_file;
    std::string tts_provider = "espeak";
    // Speech (tts): GEMINI_TTS_MODEL, ESPEAK_VOICE, ESPEAK_RATE, AUDIO_DIR
    std::string gemini_tts_model = "gemini-2.5-flash-preview-tts";
    std::string espeak_voice = "en";  ///< language code of an installed espeak-ng voice
    int espeak_rate_wpm = 175;
    std::string audio_dir = "./data/audio";  ///< default: DATA_DIR/audio

    // Logs
    std::string log_level = "info";
    std::string log_format = "text";
};

/// A bad variable: the message names it, e.g. `PORT: expected an integer in 1..65535, got "x"`.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using Environment = std::map<std::string, std::string>;

/// Parses a `.env` file's text: `KEY=value` lines, `#` comments, optional `export `, single or
/// double quotes. Throws ConfigError naming the line on a malformed one.
Environment parse_dotenv(const std::string& text);
/// The process environment merged over `.env` in the working directory (environment wins).
Environment read_environment(const std::string& dotenv_path = ".env");
/// Validates and converts; throws ConfigError naming the first bad variable. Messages never
/// echo a password from a URL.
Settings load(const Environment& env);

/// The URL with the password of its user-info replaced by `***`.
std::string redact_url(std::string_view url);
/// Whether the URL's host is loopback (localhost, 127.0.0.0/8, [::1]).
bool is_loopback_url(std::string_view url);

}  // namespace confidant::config
