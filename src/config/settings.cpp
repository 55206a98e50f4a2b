#include "config/settings.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "scheduler/job_catalog.hpp"
#include "scheduler/trigger.hpp"
#include "storage/postgres/conninfo.hpp"

extern char** environ;

namespace confidant::config {

namespace {

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

class Reader {
  public:
    explicit Reader(const Environment& env) : env_(env) {}

    std::optional<std::string> raw(const char* name) const {
        auto it = env_.find(name);
        if (it == env_.end() || it->second.empty()) {
            return std::nullopt;
        }
        return it->second;
    }

    void string(const char* name, std::string& out) const {
        if (auto v = raw(name)) {
            out = *v;
        }
    }
    void optional_string(const char* name, std::optional<std::string>& out) const {
        if (auto v = raw(name)) {
            out = *v;
        }
    }

    template <class T>
    void integer(const char* name, T& out, long long min, long long max) const {
        auto v = raw(name);
        if (!v) {
            return;
        }
        long long parsed = 0;
        const auto s = trim(*v);
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
        if (ec != std::errc() || ptr != s.data() + s.size() || parsed < min || parsed > max) {
            throw ConfigError(
                fmt::format("{}: expected an integer in {}..{}, got \"{}\"", name, min, max, *v));
        }
        out = static_cast<T>(parsed);
    }

    void number(const char* name, double& out, double min, double max) const {
        auto v = raw(name);
        if (!v) {
            return;
        }
        const auto s = trim(*v);
        char* end = nullptr;
        errno = 0;
        const double parsed = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(parsed) ||
            parsed < min || parsed > max) {
            throw ConfigError(
                fmt::format("{}: expected a number in {}..{}, got \"{}\"", name, min, max, *v));
        }
        out = parsed;
    }

    void boolean(const char* name, bool& out) const {
        auto v = raw(name);
        if (!v) {
            return;
        }
        std::string s = trim(*v);
        for (auto& c : s) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (s == "1" || s == "true" || s == "yes" || s == "on") {
            out = true;
        } else if (s == "0" || s == "false" || s == "no" || s == "off") {
            out = false;
        } else {
            throw ConfigError(fmt::format("{}: expected true or false, got \"{}\"", name, *v));
        }
    }

    void one_of(const char* name, std::string& out,
                std::initializer_list<const char*> allowed) const {
        auto v = raw(name);
        if (!v) {
            return;
        }
        for (const char* a : allowed) {
            if (*v == a) {
                out = *v;
                return;
            }
        }
        std::string list;
        for (const char* a : allowed) {
            list += list.empty() ? "" : ", ";
            list += a;
        }
        throw ConfigError(fmt::format("{}: expected one of {}, got \"{}\"", name, list, *v));
    }

  private:
    const Environment& env_;
};

/// Every SCHEDULE_<JOB_ID> variable: the job must exist and the value must parse.
void read_schedules(const Environment& env, std::map<std::string, std::string>& out) {
    constexpr std::string_view kPrefix = "SCHEDULE_";
    for (const auto& [name, value] : env) {
        if (name.rfind(kPrefix, 0) != 0 || value.empty()) {
            continue;
        }
        std::string id = name.substr(kPrefix.size());
        for (auto& c : id) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        bool known = false;
        std::string list;
        for (const auto& job : scheduler::kJobCatalog) {
            known = known || job.id == id;
            list += list.empty() ? "" : ", ";
            list += job.id;
        }
        if (!known) {
            throw ConfigError(
                fmt::format("{}: no scheduler job \"{}\" (jobs: {})", name, id, list));
        }
        if (auto trigger = scheduler::parse_schedule(value); !trigger) {
            throw ConfigError(fmt::format("{}: {}", name, trigger.error().message));
        }
        out[id] = trim(value);
    }
}

}  // namespace

std::string redact_url(std::string_view url) {
    // scheme://user:password@host... → scheme://user:***@host...
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return std::string(url);
    }
    const auto start = scheme + 3;
    const auto at = url.find('@', start);
    const auto slash = url.find('/', start);
    if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
        return std::string(url);
    }
    const auto colon = url.find(':', start);
    std::string out(url.substr(0, start));
    if (colon != std::string_view::npos && colon < at) {
        out.append(url.substr(start, colon - start)).append(":***");
    } else {
        out.append("***");
    }
    out.append(url.substr(at));
    return out;
}

bool is_loopback_url(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return false;
    }
    std::string_view rest = url.substr(scheme + 3);
    if (const auto at = rest.find('@'); at != std::string_view::npos &&
                                        at < rest.find('/')) {
        rest.remove_prefix(at + 1);
    }
    std::string_view host;
    if (rest.starts_with("[")) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = rest.substr(1, close - 1);
    } else {
        host = rest.substr(0, rest.find_first_of(":/?#"));
    }
    if (host == "localhost" || host == "::1") {
        return true;
    }
    // 127.0.0.0/8 in dotted form.
    return host.starts_with("127.") &&
           host.find_first_not_of("0123456789.") == std::string_view::npos;
}

Environment parse_dotenv(const std::string& text) {
    Environment env;
    std::istringstream in(text);
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        std::string s = trim(line);
        if (s.empty() || s[0] == '#') {
            continue;
        }
        if (s.rfind("export ", 0) == 0) {
            s = trim(std::string_view(s).substr(7));
        }
        const auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw ConfigError(fmt::format(".env line {}: expected KEY=value", lineno));
        }
        const std::string key = trim(std::string_view(s).substr(0, eq));
        for (char c : key) {
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
                throw ConfigError(
                    fmt::format(".env line {}: bad variable name \"{}\"", lineno, key));
            }
        }
        std::string value = trim(std::string_view(s).substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
            value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        } else if (!value.empty() && value.front() == '#') {
            value.clear();  // `KEY=   # comment`: an empty value
        } else if (const auto hash = value.find(" #"); hash != std::string::npos) {
            value = trim(std::string_view(value).substr(0, hash));  // trailing comment
        }
        env[key] = value;
    }
    return env;
}

Environment read_environment(const std::string& dotenv_path) {
    Environment env;
    if (std::ifstream f(dotenv_path); f) {
        std::stringstream ss;
        ss << f.rdbuf();
        env = parse_dotenv(ss.str());
    }
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view kv(*e);
        const auto eq = kv.find('=');
        if (eq != std::string_view::npos) {
            env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
        }
    }
    return env;
}

Settings load(const Environment& env) {
    Settings s;
    Reader r(env);
    r.string("HOST", s.host);
    r.integer("PORT", s.port, 0, 65535);
    r.integer("HTTP_THREADS", s.http_threads, 0, 256);
    r.integer("MAX_BODY_BYTES", s.max_body_bytes, 1, 1LL << 30);
    r.integer("MAX_HEADER_BYTES", s.max_header_bytes, 1024, 1 << 20);
    r.integer("HEADER_TIMEOUT_SECONDS", s.header_timeout_s, 1, 3600);
    r.integer("IDLE_TIMEOUT_SECONDS", s.idle_timeout_s, 1, 86400);
    r.integer("DRAIN_TIMEOUT_SECONDS", s.drain_timeout_s, 0, 3600);
    r.integer("BODY_TIMEOUT_SECONDS", s.body_timeout_s, 1, 3600);
    r.integer("WRITE_TIMEOUT_SECONDS", s.write_timeout_s, 1, 3600);
    r.integer("MAX_CONNECTIONS", s.max_connections, 0, 100'000'000);
    if (auto v = r.raw("TRUSTED_PROXIES")) {
        std::string bad;
        auto ranges = http::parse_address_ranges(*v, bad);
        if (!ranges) {
            throw ConfigError(fmt::format(
                "TRUSTED_PROXIES: expected comma-separated addresses or CIDRs (10.0.0.0/8, "
                "fd00::/8), got \"{}\"",
                bad));
        }
        s.trusted_proxies = std::move(*ranges);
    }

    r.string("DATA_DIR", s.data_dir);
    s.database_url = "sqlite://" + s.data_dir + "/confidant.db";
    r.string("DATABASE_URL", s.database_url);
    if (s.database_url.rfind("sqlite://", 0) != 0 &&
        !storage::pg::looks_like_conninfo(s.database_url)) {
        throw ConfigError(fmt::format(
            "DATABASE_URL: expected sqlite://PATH, postgresql://... or host=... dbname=..., got "
            "\"{}\"",
            s.database_url));
    }
    if (s.database_url.rfind("sqlite://", 0) != 0) {
        // URL or keyword form, checked by libpq's own parser (sslmode and the rest pass through).
        if (auto pg = storage::pg::parse_conninfo(s.database_url); !pg) {
            throw ConfigError(pg.error());
        }
        throw ConfigError(
            "DATABASE_URL: the PostgreSQL backend is not built yet; use sqlite://PATH");
    }
    r.integer("DB_POOL_SIZE", s.db_pool_size, 1, 1000);
    r.integer("DB_MAX_OVERFLOW", s.db_max_overflow, 0, 1000);
    r.integer("DB_POOL_RECYCLE", s.db_pool_recycle_s, 0, 86400 * 7);
    r.number("DB_POOL_TIMEOUT", s.db_pool_timeout_s, 0.01, 600);
    r.integer("SQLITE_THREADS", s.sqlite_threads, 0, 64);

    r.optional_string("REDIS_URL", s.redis_url);
    if (s.redis_url && s.redis_url->rfind("redis://", 0) != 0) {
        throw ConfigError(
            fmt::format("REDIS_URL: expected redis://[user:pass@]host:port/db, got \"{}\"",
                        redact_url(*s.redis_url)));
    }
    r.integer("REDIS_MAX_CONNECTIONS", s.redis_max_connections, 1, 10000);
    r.integer("REDIS_HEALTH_CHECK_INTERVAL", s.redis_health_check_interval_s, 1, 86400);
    r.boolean("REDIS_RETRY_ON_TIMEOUT", s.redis_retry_on_timeout);
    r.integer("REDIS_RETRY_ATTEMPTS", s.redis_retry_attempts, 0, 10);
    r.number("REDIS_RETRY_MIN_WAIT", s.redis_retry_min_wait_s, 0, 60);
    r.number("REDIS_RETRY_MAX_WAIT", s.redis_retry_max_wait_s, 0, 600);
    if (s.redis_retry_max_wait_s < s.redis_retry_min_wait_s) {
        throw ConfigError("REDIS_RETRY_MAX_WAIT: must not be below REDIS_RETRY_MIN_WAIT");
    }
    r.boolean("CACHE_ENABLED", s.cache_enabled);
    r.integer("CACHE_TTL_SECONDS", s.cache_ttl_s, 1, 86400 * 30);
    r.integer("CACHE_L1_TTL_SECONDS", s.cache_l1_ttl_s, 1, 86400);
    r.integer("CACHE_L1_MAX_ENTRIES", s.cache_l1_max_entries, 16, 100'000'000);
    r.integer("CACHE_L1_MAX_MB", s.cache_l1_max_mb, 1, 1 << 20);
    r.integer("CACHE_WARMUP_USERS", s.cache_warmup_users, 0, 1'000'000);

    r.optional_string("JWT_SECRET", s.jwt_secret);
    if (s.jwt_secret && s.jwt_secret->size() < 32) {
        throw ConfigError("JWT_SECRET: must be at least 32 bytes");
    }
    if (!s.jwt_secret && s.redis_url) {
        // Several instances share Redis; each would make its own secret and reject the
        // others' tokens behind a load balancer.
        throw ConfigError(
            "JWT_SECRET: required when REDIS_URL is set (every instance must sign with the same "
            "secret)");
    }
    r.integer("JWT_TTL_SECONDS", s.jwt_ttl_s, 60, 86400 * 365);
    r.optional_string("ADMIN_USERNAME", s.admin_username);
    r.optional_string("ADMIN_PASSWORD", s.admin_password);
    if (s.admin_username.has_value() != s.admin_password.has_value()) {
        throw ConfigError(s.admin_username ? "ADMIN_PASSWORD: required when ADMIN_USERNAME is set"
                                           : "ADMIN_USERNAME: required when ADMIN_PASSWORD is set");
    }
    r.integer("ADMIN_RATE_LIMIT_PER_MINUTE", s.admin_rate_limit_per_minute, 1, 1'000'000);
    r.one_of("PASSWORD_HASH_PROFILE", s.password_hash_profile, {"interactive", "fast"});
    r.integer("PASSWORD_HASH_QUEUE", s.password_hash_queue, 0, 1'000'000);
    r.integer("LOGIN_FAILURES_PER_WINDOW", s.login_failures_per_window, 0, 1'000'000);
    r.integer("LOGIN_FAILURE_WINDOW_SECONDS", s.login_failure_window_s, 1, 86400 * 30);
    r.integer("REGISTRATIONS_PER_HOUR", s.registrations_per_hour, 0, 1'000'000);

    r.optional_string("GEMINI_API_KEY", s.gemini_api_key);
    s.llm_provider = s.gemini_api_key ? "gemini" : "offline";
    r.one_of("LLM_PROVIDER", s.llm_provider, {"gemini", "openai", "offline"});
    r.string("GEMINI_MODEL", s.gemini_model);
    r.string("GEMINI_BASE_URL", s.gemini_base_url);
    if (s.gemini_base_url.rfind("http://", 0) != 0 && s.gemini_base_url.rfind("https://", 0) != 0) {
        throw ConfigError(fmt::format(
            "GEMINI_BASE_URL: expected an http:// or https:// URL, got \"{}\"", s.gemini_base_url));
    }
    if (s.gemini_base_url.rfind("http://", 0) == 0 && !is_loopback_url(s.gemini_base_url)) {
        throw ConfigError(
            "GEMINI_BASE_URL: plain http:// is allowed only to a loopback host (the API key "
            "would travel in clear); use https://");
    }
    if (s.llm_provider == "gemini" && !s.gemini_api_key) {
        throw ConfigError("GEMINI_API_KEY: required when LLM_PROVIDER=gemini");
    }
    r.string("OPENAI_BASE_URL", s.openai_base_url);
    if (s.openai_base_url.rfind("http://", 0) != 0 && s.openai_base_url.rfind("https://", 0) != 0) {
        throw ConfigError(fmt::format(
            "OPENAI_BASE_URL: expected an http:// or https:// URL, got \"{}\"", s.openai_base_url));
    }
    r.optional_string("OPENAI_API_KEY", s.openai_api_key);
    if (s.openai_api_key && s.openai_base_url.rfind("http://", 0) == 0 &&
        !is_loopback_url(s.openai_base_url)) {
        throw ConfigError(
            "OPENAI_BASE_URL: with OPENAI_API_KEY set, plain http:// is allowed only to a loopback "
            "host (the key would travel in clear); use https://");
    }
    r.string("OPENAI_MODEL", s.openai_model);
    r.integer("LLM_ATTEMPT_TIMEOUT_MS", s.llm_attempt_timeout_ms, 10, 600'000);
    r.integer("LLM_DEADLINE_MS", s.llm_deadline_ms, 10, 3'600'000);
    r.integer("LLM_FIRST_TOKEN_TIMEOUT_MS", s.llm_first_token_timeout_ms, 10, 600'000);
    r.integer("LLM_STALL_TIMEOUT_MS", s.llm_stall_timeout_ms, 10, 600'000);
    r.integer("LLM_MAX_RETRIES", s.llm_max_retries, 0, 10);
    r.number("LLM_RETRY_BUDGET_RATIO", s.llm_retry_budget_ratio, 0, 10);
    r.integer("LLM_MAX_CONCURRENT", s.llm_max_concurrent, 1, 1'000'000);
    r.integer("LLM_BREAKER_WINDOW", s.llm_breaker_window, 1, 100'000);
    r.integer("LLM_BREAKER_MIN_CALLS", s.llm_breaker_min_calls, 1, 100'000);
    r.number("LLM_BREAKER_FAILURE_RATE", s.llm_breaker_failure_rate, 0.01, 1.0);
    r.number("LLM_BREAKER_SLOW_CALL_RATE", s.llm_breaker_slow_call_rate, 0.01, 1.0);
    r.integer("LLM_BREAKER_SLOW_CALL_MS", s.llm_breaker_slow_call_ms, 1, 3'600'000);
    r.integer("LLM_BREAKER_OPEN_SECONDS", s.llm_breaker_open_s, 1, 86400);
    r.integer("LLM_BREAKER_HALF_OPEN_CALLS", s.llm_breaker_half_open_calls, 1, 1000);
    r.integer("HISTORY_CONTEXT_MESSAGES", s.history_context_messages, 0, 200);
    r.integer("FREE_MESSAGES_PER_DAY", s.free_messages_per_day, 0, 10'000'000);
    r.integer("PREMIUM_MESSAGES_PER_DAY", s.premium_messages_per_day, 0, 10'000'000);
    r.integer("CHAT_RATE_LIMIT_PER_MINUTE", s.chat_rate_limit_per_minute, 1, 10'000'000);
    r.integer("CHAT_HISTORY_RETENTION_DAYS", s.chat_history_retention_days, 1, 36500);

    r.boolean("SCHEDULER_ENABLED", s.scheduler_enabled);
    r.integer("SCHEDULER_LEASE_SECONDS", s.scheduler_lease_s, 2, 3600);
    read_schedules(env, s.schedules);

    r.one_of("QUEUE_BACKEND", s.queue_backend, {"db", "redis"});
    r.integer("WORKER_CONCURRENCY", s.worker_concurrency, 0, 4096);
    r.optional_string("QUEUE_RECORD_FILE", s.queue_record_file);
    r.boolean("WORKERS_IN_SERVE", s.workers_in_serve);
    r.number("JOB_LEASE_SECONDS", s.job_lease_s, 0.5, 3600);
    r.one_of("TTS_PROVIDER", s.tts_provider, {"espeak", "gemini"});
    if (s.tts_provider == "gemini" && !s.gemini_api_key) {
        throw ConfigError("GEMINI_API_KEY: required when TTS_PROVIDER=gemini");
    }
    r.string("GEMINI_TTS_MODEL", s.gemini_tts_model);
    // It goes into the request path: {base}/v1beta/models/{model}:generateContent.
    if (s.gemini_tts_model.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789._-") != std::string::npos) {
        throw ConfigError(
            fmt::format("GEMINI_TTS_MODEL: expected a model name of letters, digits, '.', '_' and "
                        "'-', got \"{}\"",
                        s.gemini_tts_model));
    }
    r.string("ESPEAK_VOICE", s.espeak_voice);
    if (s.espeak_voice.size() > 32 ||
        s.espeak_voice.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_") != std::string::npos) {
        throw ConfigError(
            fmt::format("ESPEAK_VOICE: expected a language code such as en or en-us, got \"{}\"",
                        s.espeak_voice));
    }
    r.integer("ESPEAK_RATE", s.espeak_rate_wpm, 80, 450);
    s.audio_dir = s.data_dir + "/audio";
    r.string("AUDIO_DIR", s.audio_dir);

    r.one_of("LOG_LEVEL", s.log_level, {"trace", "debug", "info", "warn", "error"});
    r.one_of("LOG_FORMAT", s.log_format, {"text", "json"});
    return s;
}

}  // namespace confidant::config
