#pragma once

#include <boost/system/result.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/task.hpp"

namespace confidant::llm {

struct Turn {
    enum class Role { user, model };
    Role role = Role::user;
    std::string text;
};

struct CompletionRequest {
    std::string system_instruction;  ///< persona + memories
    std::vector<Turn> contents;      ///< history, oldest first; the last one is the new user turn
    double temperature = 0.9;
    int max_output_tokens = 1024;
    /// Structured output: a JSON Schema (as JSON text) the answer must follow. The provider asks
    /// for JSON that matches it (Gemini: `generationConfig.responseMimeType:
    /// "application/json"` + `responseJsonSchema`; OpenAI: `response_format` of type
    /// `json_schema`, strict) and returns the JSON text as Completion::text. The caller still
    /// validates what comes back: a model may not comply.
    std::optional<std::string> response_schema;
    /// The schema's name where the API wants one (OpenAI), [a-zA-Z0-9_-]{1,64}.
    std::string response_schema_name = "answer";
};

struct Usage {
    int prompt_tokens = 0;
    int completion_tokens = 0;
    int total_tokens = 0;
};

struct Completion {
    std::string text;
    std::string finish_reason;  ///< Gemini's finishReason ("STOP", ...) or OpenAI's ("stop")
    Usage usage;
    std::string model;
};

enum class FailureKind {
    timeout,          ///< per-attempt timeout, overall deadline, or a stream stall
    rate_limited,     ///< 429 that may be retried (per-minute limits)
    quota_exhausted,  ///< 429 for a per-day quota: never retried
    unavailable,      ///< 500/502/503/504 or a connection failure
    rejected,         ///< 400/401/403/404 and other non-retryable answers
    protocol,         ///< an answer we could not parse
    circuit_open,     ///< the breaker refused the call without touching the network
    bulkhead_full,    ///< too many concurrent calls
    cancelled,        ///< the caller went away
};

const char* to_string(FailureKind kind) noexcept;

struct ProviderError {
    FailureKind kind = FailureKind::unavailable;
    int http_status = 0;  ///< 0 when no HTTP answer was received
    std::string status;   ///< Gemini's error.status, e.g. "RESOURCE_EXHAUSTED"
    std::string message;
    std::optional<std::chrono::milliseconds> retry_after;  ///< RetryInfo / Retry-After hint

    /// 429 (not per-day), 500, 503, 504 and timeouts; never 400/403/404.
    bool retryable() const noexcept;
};

template <class T>
using LlmResult = boost::system::result<T, ProviderError>;

[[noreturn]] void throw_exception_from_error(const ProviderError& e,
                                             const boost::source_location& loc);

/// Receives each text delta of a streamed completion, in order. Awaited before the provider
/// reads on, so a slow consumer applies back-pressure.
using DeltaSink = std::function<Task<void>(std::string_view delta)>;

/// A model provider. Implementations: GeminiProvider, OpenAiProvider, OfflineProvider, and the
/// ResilientProvider decorator (bulkhead, breaker, retries, timeouts) over any of them.
///
/// Calls never block a thread: they are awaited. Cancellation: every call reacts to Asio
/// cancellation of the awaiting coroutine (e.g. `co_await (p.stream(...) || disconnected())`)
/// by closing its connection and returning. Thread-safe: concurrent calls are allowed.
class Provider {
  public:
    virtual ~Provider() = default;

    /// "gemini", "openai", "offline".
    virtual std::string_view name() const = 0;
    /// The model id reported to clients.
    virtual std::string model() const = 0;

    virtual Task<LlmResult<Completion>> complete(const CompletionRequest& request) = 0;
    /// Streams deltas to `on_delta`; the returned Completion holds the joined text.
    virtual Task<LlmResult<Completion>> stream(const CompletionRequest& request,
                                               DeltaSink on_delta) = 0;
};

}  // namespace confidant::llm
