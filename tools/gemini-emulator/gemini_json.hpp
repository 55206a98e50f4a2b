#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confidant::emulator {

/// `{"error":{"code":..,"message":..,"status":..}}`, Google's error shape.
std::string error_body(unsigned code, std::string_view message, std::string_view status);

/// 400 INVALID_ARGUMENT with the API_KEY_INVALID ErrorInfo detail.
std::string api_key_invalid_body();

/// 429 RESOURCE_EXHAUSTED for a per-minute quota, with RetryInfo `retry_after_s`.
std::string rate_limited_body(std::int64_t retry_after_s);

/// 429 RESOURCE_EXHAUSTED for the per-day quota (no RetryInfo).
std::string daily_quota_body();

/// Token counts of a `usageMetadata` object.
struct Usage {
    std::int64_t prompt_tokens = 0;
    std::int64_t candidate_tokens = 0;
};

/// One `GenerateContentResponse`: a single candidate with one text part. `finish_reason` and
/// `usage` are set on a whole answer and on the last streamed chunk only.
boost::json::object response_object(std::string_view text,
                                    std::optional<std::string_view> finish_reason,
                                    std::optional<Usage> usage, std::string_view model,
                                    std::string_view response_id);

/// A Gemini-looking response id (23 URL-safe characters) derived from `bits`.
std::string response_id(std::uint64_t bits);

}  // namespace confidant::emulator
