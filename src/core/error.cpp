#include "core/error.hpp"

namespace confidant {

const char* to_string(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::bad_request:
            return "bad_request";
        case ErrorCode::unauthorized:
            return "unauthorized";
        case ErrorCode::forbidden:
            return "forbidden";
        case ErrorCode::not_found:
            return "not_found";
        case ErrorCode::method_not_allowed:
            return "method_not_allowed";
        case ErrorCode::conflict:
            return "conflict";
        case ErrorCode::payload_too_large:
            return "payload_too_large";
        case ErrorCode::unsupported_media_type:
            return "unsupported_media_type";
        case ErrorCode::headers_too_large:
            return "headers_too_large";
        case ErrorCode::rate_limited:
            return "rate_limited";
        case ErrorCode::quota_exceeded:
            return "quota_exceeded";
        case ErrorCode::llm_unavailable:
            return "llm_unavailable";
        case ErrorCode::not_ready:
            return "not_ready";
        case ErrorCode::internal:
            return "internal";
    }
    return "internal";
}

unsigned http_status(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::bad_request:
            return 400;
        case ErrorCode::unauthorized:
            return 401;
        case ErrorCode::forbidden:
            return 403;
        case ErrorCode::not_found:
            return 404;
        case ErrorCode::method_not_allowed:
            return 405;
        case ErrorCode::conflict:
            return 409;
        case ErrorCode::payload_too_large:
            return 413;
        case ErrorCode::unsupported_media_type:
            return 415;
        case ErrorCode::headers_too_large:
            return 431;
        case ErrorCode::rate_limited:
            return 429;
        case ErrorCode::quota_exceeded:
            return 429;
        case ErrorCode::llm_unavailable:
            return 503;
        case ErrorCode::not_ready:
            return 503;
        case ErrorCode::internal:
            return 500;
    }
    return 500;
}

void throw_exception_from_error(const Error& e, const boost::source_location&) {
    throw ErrorException(e);
}

}  // namespace confidant
