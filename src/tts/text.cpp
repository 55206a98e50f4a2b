#include "tts/text.hpp"

namespace confidant::tts {

namespace {

// Length of the UTF-8 sequence starting at s[i] if it is valid (shortest form, no surrogates,
// at most U+10FFFF), else 0.
std::size_t valid_utf8_at(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    auto cont = [&](std::size_t k) {
        return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    };
    if (b0 < 0x80) {
        return 1;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        return cont(1) ? 2 : 0;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (!cont(1) || !cont(2)) {
            return 0;
        }
        const auto b1 = static_cast<unsigned char>(s[i + 1]);
        if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 >= 0xA0)) {
            return 0;  // overlong, or a UTF-16 surrogate
        }
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) {
            return 0;
        }
        const auto b1 = static_cast<unsigned char>(s[i + 1]);
        if ((b0 == 0xF0 && b1 < 0x90) || (b0 == 0xF4 && b1 >= 0x90)) {
            return 0;  // overlong, or past U+10FFFF
        }
        return 4;
    }
    return 0;
}

}  // namespace

std::string plain_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = valid_utf8_at(text, i);
        if (n == 0) {
            out.push_back(' ');
            ++i;
            continue;
        }
        const auto b0 = static_cast<unsigned char>(text[i]);
        const bool c0 = n == 1 && (b0 < 0x20 || b0 == 0x7F) && b0 != '\t' && b0 != '\n';
        const bool c1 = n == 2 && b0 == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
        if (c0 || c1) {
            out.push_back(' ');
        } else {
            out.append(text.substr(i, n));
        }
        i += n;
    }
    return out;
}

std::size_t count_code_points(std::string_view text) noexcept {
    std::size_t n = 0;
    for (const unsigned char c : text) {
        n += (c & 0xC0) != 0x80 ? 1 : 0;
    }
    return n;
}

}  // namespace confidant::tts
