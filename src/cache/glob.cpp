#include "cache/glob.hpp"

#include <cstddef>
#include <utility>

namespace confidant::cache {
namespace {

// Matches one non-`*` token of `p` starting at `pi` against byte `c`; `next` receives the index
// just past the token.
bool match_token(std::string_view p, std::size_t pi, char c, std::size_t& next) noexcept {
    const char t = p[pi];
    if (t == '?') {
        next = pi + 1;
        return true;
    }
    if (t == '\\' && pi + 1 < p.size()) {
        next = pi + 2;
        return p[pi + 1] == c;
    }
    if (t != '[') {
        next = pi + 1;
        return t == c;
    }
    std::size_t i = pi + 1;
    bool negate = false;
    if (i < p.size() && p[i] == '^') {
        negate = true;
        ++i;
    }
    bool matched = false;
    while (i < p.size() && p[i] != ']') {
        if (p[i] == '\\' && i + 1 < p.size()) {
            matched |= p[i + 1] == c;
            i += 2;
        } else if (i + 2 < p.size() && p[i + 1] == '-') {
            auto lo = static_cast<unsigned char>(p[i]);
            auto hi = static_cast<unsigned char>(p[i + 2]);
            if (lo > hi) {
                std::swap(lo, hi);
            }
            const auto uc = static_cast<unsigned char>(c);
            matched |= uc >= lo && uc <= hi;
            i += 3;
        } else {
            matched |= p[i] == c;
            ++i;
        }
    }
    next = i < p.size() ? i + 1 : i;  // past `]`, or the end for an unterminated class
    return matched != negate;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
    // Every token but `*` consumes exactly one byte, so remembering only the last star is
    // enough: on a mismatch, let that star swallow one more byte and retry.
    std::size_t pi = 0;
    std::size_t ti = 0;
    std::size_t star_pi = std::string_view::npos;
    std::size_t star_ti = 0;
    while (ti < text.size()) {
        if (pi < pattern.size() && pattern[pi] == '*') {
            while (pi < pattern.size() && pattern[pi] == '*') {
                ++pi;
            }
            if (pi == pattern.size()) {
                return true;
            }
            star_pi = pi;
            star_ti = ti;
            continue;
        }
        std::size_t next = 0;
        if (pi < pattern.size() && match_token(pattern, pi, text[ti], next)) {
            pi = next;
            ++ti;
            continue;
        }
        if (star_pi == std::string_view::npos) {
            return false;
        }
        pi = star_pi;
        ti = ++star_ti;
    }
    while (pi < pattern.size() && pattern[pi] == '*') {
        ++pi;
    }
    return pi == pattern.size();
}

std::string glob_escape(std::string_view literal) {
    std::string out;
    out.reserve(literal.size());
    for (const char c : literal) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace confidant::cache
