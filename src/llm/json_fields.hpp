#pragma once

// Reading fields of a provider's JSON answers, shared by the Gemini and OpenAI protocols.
// Every accessor answers "absent" (empty, 0, nullptr) for a missing key or a value of another
// type, so that parsers check only what they need.

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "llm/provider.hpp"

namespace confidant::llm::detail {

inline std::string_view string_at(const boost::json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key)) {
        if (const auto* s = v->if_string()) {
            return *s;
        }
    }
    return {};
}

/// An integer, also when the producer wrote it as unsigned or as a double.
inline int int_at(const boost::json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key)) {
        if (v->is_int64()) {
            return static_cast<int>(v->as_int64());
        }
        if (v->is_uint64()) {
            return static_cast<int>(v->as_uint64());
        }
        if (v->is_double()) {
            return static_cast<int>(v->as_double());
        }
    }
    return 0;
}

inline const boost::json::object* object_at(const boost::json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key)) {
        return v->if_object();
    }
    return nullptr;
}

inline const boost::json::array* array_at(const boost::json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key)) {
        return v->if_array();
    }
    return nullptr;
}

/// An answer that does not follow the protocol: "<provider>: <message>".
inline ProviderError protocol_error(std::string_view provider, std::string_view message) {
    ProviderError e;
    e.kind = FailureKind::protocol;
    e.message = std::string(provider) + ": " + std::string(message);
    return e;
}

}  // namespace confidant::llm::detail
