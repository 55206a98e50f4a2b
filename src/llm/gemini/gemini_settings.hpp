#pragma once

#include <chrono>
#include <string>

namespace confidant::llm {

struct GeminiSettings {
    std::string api_key;  ///< sent as `x-goog-api-key`
    std::string model = "gemini-2.0-flash";
    /// Scheme + host (+ port); a trailing '/' or '/v1beta' is accepted and ignored.
    std::string base_url = "https://generativelanguage.googleapis.com";
    /// TCP connect + TLS handshake (and the wait for a pooled connection slot).
    std::chrono::milliseconds connect_timeout{5000};
    /// Longest wait for the response head, and then between body bytes (a stream stall).
    /// Overall deadlines belong to the ResilientProvider decorator.
    std::chrono::milliseconds read_timeout{60000};
};

}  // namespace confidant::llm
