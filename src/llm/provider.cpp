#include "llm/provider.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"

namespace confidant::llm {

const char* to_string(FailureKind kind) noexcept {
    switch (kind) {
        case FailureKind::timeout:
            return "timeout";
        case FailureKind::rate_limited:
            return "rate_limited";
        case FailureKind::quota_exhausted:
            return "quota_exhausted";
        case FailureKind::unavailable:
            return "unavailable";
        case FailureKind::rejected:
            return "rejected";
        case FailureKind::protocol:
            return "protocol";
        case FailureKind::circuit_open:
            return "circuit_open";
        case FailureKind::bulkhead_full:
            return "bulkhead_full";
        case FailureKind::cancelled:
            return "cancelled";
    }
    return "unavailable";
}

bool ProviderError::retryable() const noexcept {
    switch (kind) {
        case FailureKind::timeout:
        case FailureKind::rate_limited:
        case FailureKind::unavailable:
            return true;
        // A per-day quota, a request the provider refused, an answer we could not parse, our
        // own refusals and a caller that went away are not helped by asking again.
        case FailureKind::quota_exhausted:
        case FailureKind::rejected:
        case FailureKind::protocol:
        case FailureKind::circuit_open:
        case FailureKind::bulkhead_full:
        case FailureKind::cancelled:
            return false;
    }
    return false;
}

void throw_exception_from_error(const ProviderError& e, const boost::source_location&) {
    // `LlmResult<T>::value()` on an error: the HTTP layer maps ErrorException to its JSON shape,
    // and every provider failure is a 503 `llm_unavailable` for the client.
    std::optional<long> retry_after_s;
    if (e.retry_after) {
        retry_after_s = std::max<long>(1, static_cast<long>((e.retry_after->count() + 999) / 1000));
    }
    throw ErrorException(make_error(ErrorCode::llm_unavailable,
                                    fmt::format("llm {}: {}", to_string(e.kind), e.message),
                                    retry_after_s));
}

}  // namespace confidant::llm
