#include "gemini_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "behavior.hpp"

namespace confidant::emulator {
namespace json = boost::json;

std::string error_body(unsigned code, std::string_view message, std::string_view status) {
    json::object err;
    err["code"] = code;
    err["message"] = message;
    err["status"] = status;
    json::object root;
    root["error"] = std::move(err);
    return json::serialize(root);
}

std::string api_key_invalid_body() {
    json::object metadata;
    metadata["service"] = "generativelanguage.googleapis.com";
    json::object info;
    info["@type"] = "type.googleapis.com/google.rpc.ErrorInfo";
    info["reason"] = "API_KEY_INVALID";
    info["domain"] = "googleapis.com";
    info["metadata"] = std::move(metadata);
    json::object err;
    err["code"] = 400;
    err["message"] = "API key not valid. Please pass a valid API key.";
    err["status"] = "INVALID_ARGUMENT";
    err["details"] = json::array{std::move(info)};
    json::object root;
    root["error"] = std::move(err);
    return json::serialize(root);
}

namespace {

json::object quota_failure(std::string_view quota_id) {
    json::object violation;
    violation["quotaMetric"] = "generativelanguage.googleapis.com/generate_content_requests";
    violation["quotaId"] = quota_id;
    json::object failure;
    failure["@type"] = "type.googleapis.com/google.rpc.QuotaFailure";
    failure["violations"] = json::array{std::move(violation)};
    return failure;
}

std::string exhausted_body(json::array details) {
    json::object err;
    err["code"] = 429;
    err["message"] = "Resource has been exhausted (e.g. check quota).";
    err["status"] = "RESOURCE_EXHAUSTED";
    err["details"] = std::move(details);
    json::object root;
    root["error"] = std::move(err);
    return json::serialize(root);
}

}  // namespace

std::string rate_limited_body(std::int64_t retry_after_s) {
    json::object retry;
    retry["@type"] = "type.googleapis.com/google.rpc.RetryInfo";
    retry["retryDelay"] = std::to_string(retry_after_s) + "s";
    return exhausted_body(json::array{quota_failure("GenerateRequestsPerMinutePerProjectPerModel"),
                                      std::move(retry)});
}

std::string daily_quota_body() {
    return exhausted_body(json::array{quota_failure("GenerateRequestsPerDayPerProjectPerModel")});
}

json::object response_object(std::string_view text, std::optional<std::string_view> finish_reason,
                             std::optional<Usage> usage, std::string_view model,
                             std::string_view response_id) {
    json::object part;
    part["text"] = text;
    json::object content;
    content["parts"] = json::array{std::move(part)};
    content["role"] = "model";
    json::object candidate;
    candidate["content"] = std::move(content);
    if (finish_reason) {
        candidate["finishReason"] = *finish_reason;
    }
    candidate["index"] = 0;
    json::object root;
    root["candidates"] = json::array{std::move(candidate)};
    if (usage) {
        json::object u;
        u["promptTokenCount"] = usage->prompt_tokens;
        u["candidatesTokenCount"] = usage->candidate_tokens;
        u["totalTokenCount"] = usage->prompt_tokens + usage->candidate_tokens;
        root["usageMetadata"] = std::move(u);
    }
    root["modelVersion"] = model;
    root["responseId"] = response_id;
    return root;
}

std::string response_id(std::uint64_t bits) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string id;
    id.reserve(23);
    std::uint64_t x = bits;
    for (int i = 0; i < 23; ++i) {
        if (i % 10 == 0) {
            x = mix64(x + static_cast<std::uint64_t>(i));
        }
        id += kAlphabet[x & 63U];
        x >>= 6;
    }
    return id;
}

}  // namespace confidant::emulator
