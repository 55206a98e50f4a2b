#include "http/range.hpp"

#include <fmt/format.h>

#include <optional>

namespace confidant::http {

namespace {

constexpr std::uint64_t kMax = ~std::uint64_t{0};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        char y = b[i];
        x = (x >= 'A' && x <= 'Z') ? static_cast<char>(x - 'A' + 'a') : x;
        y = (y >= 'A' && y <= 'Z') ? static_cast<char>(y - 'A' + 'a') : y;
        if (x != y) {
            return false;
        }
    }
    return true;
}

// 1*DIGIT. A value past 2^64-1 saturates: it is past the end of any resource anyway.
std::optional<std::uint64_t> digits(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
    }
    return v;
}

}  // namespace

RangeDecision decide_range(std::string_view header, std::uint64_t size) noexcept {
    using Kind = RangeDecision::Kind;
    const RangeDecision ignore{Kind::ignore, {}};
    const RangeDecision unsatisfiable{Kind::not_satisfiable, {}};

    header = trim(header);
    const auto eq = header.find('=');
    if (eq == std::string_view::npos || !iequals(trim(header.substr(0, eq)), "bytes")) {
        return ignore;
    }
    const std::string_view spec = trim(header.substr(eq + 1));
    if (spec.find(',') != std::string_view::npos) {
        return ignore;  // several ranges: served whole, not as multipart/byteranges
    }
    const auto dash = spec.find('-');
    if (dash == std::string_view::npos) {
        return ignore;
    }
    const std::string_view first_text = spec.substr(0, dash);
    const std::string_view last_text = spec.substr(dash + 1);

    if (first_text.empty()) {
        // bytes=-n: the last n bytes.
        const auto n = digits(last_text);
        if (!n) {
            return ignore;
        }
        if (*n == 0 || size == 0) {
            return unsatisfiable;
        }
        const std::uint64_t first = *n >= size ? 0 : size - *n;
        return {Kind::partial, {first, size - 1}};
    }
    const auto first = digits(first_text);
    if (!first) {
        return ignore;
    }
    std::uint64_t last = kMax;
    if (!last_text.empty()) {
        const auto parsed = digits(last_text);
        if (!parsed || *parsed < *first) {
            return ignore;
        }
        last = *parsed;
    }
    if (*first >= size) {
        return unsatisfiable;
    }
    return {Kind::partial, {*first, last >= size ? size - 1 : last}};
}

std::string content_range(const ByteRange& range, std::uint64_t size) {
    return fmt::format("bytes {}-{}/{}", range.first, range.last, size);
}

std::string unsatisfied_content_range(std::uint64_t size) {
    return fmt::format("bytes */{}", size);
}

}  // namespace confidant::http
