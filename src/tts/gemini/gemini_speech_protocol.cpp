#include "tts/gemini/gemini_speech_protocol.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>

#include "core/json_writer.hpp"
#include "llm/http_support.hpp"
#include "llm/json_fields.hpp"
#include "tts/wav.hpp"

namespace confidant::tts::gemini {

namespace json = boost::json;
using llm::detail::array_at;
using llm::detail::object_at;
using llm::detail::string_at;

namespace {

constexpr std::array<std::string_view, 30> kVoices = {
    "Zephyr",    "Puck",          "Charon",       "Kore",      "Fenrir",     "Leda",
    "Orus",      "Aoede",         "Callirrhoe",   "Autonoe",   "Enceladus",  "Iapetus",
    "Umbriel",   "Algieba",       "Despina",      "Erinome",   "Algenib",    "Rasalgethi",
    "Laomedeia", "Achernar",      "Alnilam",      "Schedar",   "Gacrux",     "Pulcherrima",
    "Achird",    "Zubenelgenubi", "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
};

constexpr std::uint32_t kDefaultRate = 24'000;

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') {
        s.remove_prefix(1);
    }
    while (!s.empty() && s.back() == ' ') {
        s.remove_suffix(1);
    }
    return s;
}

Error unusable(std::string message) {
    return make_error(ErrorCode::llm_unavailable, "gemini tts: " + std::move(message));
}

// The parsed `mimeType` of an audio part.
struct AudioType {
    bool wav = false;  // a whole WAV file; else raw 16-bit little-endian PCM
    std::uint32_t rate = kDefaultRate;
    std::uint16_t channels = 1;
};

std::optional<AudioType> parse_mime(std::string_view mime) {
    AudioType t;
    const auto semi = mime.find(';');
    const std::string_view base = trim(mime.substr(0, semi));
    if (iequals(base, "audio/wav") || iequals(base, "audio/x-wav") || iequals(base, "audio/wave")) {
        t.wav = true;
        return t;
    }
    if (!iequals(base, "audio/L16") && !iequals(base, "audio/pcm")) {
        return std::nullopt;
    }
    std::string_view params = semi == std::string_view::npos ? "" : mime.substr(semi + 1);
    while (!params.empty()) {
        const auto next = params.find(';');
        const std::string_view param = trim(params.substr(0, next));
        params = next == std::string_view::npos ? "" : params.substr(next + 1);
        const auto eq = param.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        const std::string_view key = trim(param.substr(0, eq));
        const std::string_view value = trim(param.substr(eq + 1));
        unsigned n = 0;
        const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        const bool number = ec == std::errc{} && ptr == value.data() + value.size();
        if (iequals(key, "rate")) {
            if (!number || n < 1 || n > 384'000) {
                return std::nullopt;
            }
            t.rate = n;
        } else if (iequals(key, "channels")) {
            if (!number || n < 1 || n > 8) {
                return std::nullopt;
            }
            t.channels = static_cast<std::uint16_t>(n);
        }
    }
    return t;
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {
        return 62;
    }
    if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}

}  // namespace

std::optional<std::string> canonical_voice(std::string_view name) {
    for (const auto voice : kVoices) {
        if (iequals(voice, name)) {
            return std::string(voice);
        }
    }
    return std::nullopt;
}

std::optional<std::string> decode_base64(std::string_view text) {
    while (!text.empty() && text.back() == '=') {
        text.remove_suffix(1);
    }
    if (text.size() % 4 == 1) {
        return std::nullopt;  // no whole byte in a lone sextet
    }
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = base64_value(c);
        if (v < 0) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    return out;
}

std::string build_speech_body(std::string_view text, std::string_view voice,
                              std::string_view language) {
    std::string out;
    out.reserve(text.size() + 256);
    out.append(R"({"contents":[{"role":"user","parts":[{"text":)");
    append_json_string(out, text);
    out.append(R"(}]}],"generationConfig":{"responseModalities":["AUDIO"],)");
    out.append(R"("speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":)");
    append_json_string(out, voice);
    out.append("}}");
    if (!language.empty()) {
        out.append(R"(,"languageCode":)");
        append_json_string(out, language);
    }
    out.append("}}}");
    return out;
}

Result<Audio> parse_speech_response(std::string_view body) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(body, ec);
    if (ec || !parsed.is_object()) {
        return unusable(
            fmt::format("the answer is not a JSON object: {}", llm::detail::excerpt(body, 200)));
    }
    const auto& root = parsed.get_object();
    const auto* candidates = array_at(root, "candidates");
    if (candidates == nullptr || candidates->empty() || !(*candidates)[0].is_object()) {
        if (const auto* feedback = object_at(root, "promptFeedback")) {
            if (const auto reason = string_at(*feedback, "blockReason"); !reason.empty()) {
                return make_error(ErrorCode::bad_request,
                                  fmt::format("gemini tts: text blocked ({})", reason));
            }
        }
        return unusable("the answer has no candidate");
    }
    const auto& candidate = (*candidates)[0].get_object();
    const auto finish = string_at(candidate, "finishReason");

    std::optional<AudioType> type;
    std::string pcm;
    if (const auto* content = object_at(candidate, "content")) {
        if (const auto* parts = array_at(*content, "parts")) {
            for (const auto& part : *parts) {
                const auto* p = part.if_object();
                const auto* data = p == nullptr ? nullptr : object_at(*p, "inlineData");
                if (data == nullptr) {
                    continue;
                }
                const auto mime = string_at(*data, "mimeType");
                auto this_type = parse_mime(mime);
                if (!this_type) {
                    return unusable(fmt::format("unsupported audio type '{}'", mime));
                }
                auto bytes = decode_base64(string_at(*data, "data"));
                if (!bytes) {
                    return unusable("the audio data is not valid base64");
                }
                if (this_type->wav) {
                    auto info = parse_wav(*bytes);
                    if (!info) {
                        return unusable(info.error().message);
                    }
                    Audio audio;
                    audio.sample_rate = info->format.sample_rate;
                    audio.channels = info->format.channels;
                    audio.bits_per_sample = info->format.bits_per_sample;
                    audio.duration_ms = info->duration_ms;
                    audio.wav = std::move(*bytes);
                    return audio;
                }
                if (type &&
                    (type->rate != this_type->rate || type->channels != this_type->channels)) {
                    return unusable("audio parts of different formats");
                }
                type = this_type;
                pcm += *bytes;
            }
        }
    }
    if (!type) {
        if (finish == "SAFETY" || finish == "PROHIBITED_CONTENT" || finish == "BLOCKLIST" ||
            finish == "SPII") {
            return make_error(ErrorCode::bad_request,
                              fmt::format("gemini tts: stopped for {}", finish));
        }
        return unusable(fmt::format("no audio in the answer (finishReason '{}')", finish));
    }
    Audio audio;
    audio.wav = wrap_pcm_s16le(pcm, type->rate, type->channels);
    audio.sample_rate = type->rate;
    audio.channels = type->channels;
    audio.bits_per_sample = 16;
    audio.duration_ms =
        frames_to_ms((audio.wav.size() - kWavHeaderBytes) / (2U * type->channels), type->rate);
    return audio;
}

Error to_error(const llm::ProviderError& e) {
    const std::string message =
        e.message.starts_with("gemini") ? "gemini tts" + e.message.substr(6) : e.message;
    switch (e.kind) {
        case llm::FailureKind::rate_limited: {
            std::optional<long> seconds;
            if (e.retry_after) {
                seconds = static_cast<long>((e.retry_after->count() + 999) / 1000);
            }
            return make_error(ErrorCode::rate_limited, message, seconds);
        }
        case llm::FailureKind::quota_exhausted:
            return make_error(ErrorCode::quota_exceeded, message);
        case llm::FailureKind::rejected:
            return make_error(e.http_status == 400 ? ErrorCode::bad_request : ErrorCode::internal,
                              message);
        case llm::FailureKind::timeout:
        case llm::FailureKind::unavailable:
        case llm::FailureKind::protocol:
        case llm::FailureKind::circuit_open:
        case llm::FailureKind::bulkhead_full:
        case llm::FailureKind::cancelled:
            break;
    }
    return make_error(ErrorCode::llm_unavailable, message);
}

}  // namespace confidant::tts::gemini
