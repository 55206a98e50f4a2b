#include "speech.hpp"

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <cmath>
#include <numbers>

#include "behavior.hpp"

namespace confidant::emulator {
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 30> kVoices = {
    "Zephyr",    "Puck",          "Charon",       "Kore",      "Fenrir",     "Leda",
    "Orus",      "Aoede",         "Callirrhoe",   "Autonoe",   "Enceladus",  "Iapetus",
    "Umbriel",   "Algieba",       "Despina",      "Erinome",   "Algenib",    "Rasalgethi",
    "Laomedeia", "Achernar",      "Alnilam",      "Schedar",   "Gacrux",     "Pulcherrima",
    "Achird",    "Zubenelgenubi", "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
};

std::uint64_t fnv1a(std::string_view s) noexcept {
    std::uint64_t h = 0xcbf2'9ce4'8422'2325ULL;
    for (unsigned char c : s) {
        h = (h ^ c) * 0x100'0000'01b3ULL;
    }
    return h;
}

}  // namespace

bool is_prebuilt_voice(std::string_view name) noexcept {
    return std::find(kVoices.begin(), kVoices.end(), name) != kVoices.end();
}

std::int64_t speech_duration_ms(std::string_view text, const Knobs& knobs) noexcept {
    std::int64_t code_points = 0;
    for (unsigned char c : text) {
        code_points += (c & 0xC0) != 0x80 ? 1 : 0;  // count every byte that starts a character
    }
    code_points = std::max<std::int64_t>(code_points, 1);
    const std::int64_t per_char = std::max<std::int64_t>(knobs.tts_ms_per_char, 1);
    // Compare before multiplying: a huge text must not overflow.
    if (code_points > knobs.tts_max_ms / per_char) {
        return knobs.tts_max_ms;
    }
    return std::min(code_points * per_char, knobs.tts_max_ms);
}

std::string tone_pcm(std::int64_t duration_ms, std::string_view voice) {
    const auto frames =
        static_cast<std::size_t>(std::max<std::int64_t>(duration_ms, 0) * kSpeechSampleRate / 1000);
    const double hz = 150.0 + static_cast<double>(mix64(fnv1a(voice)) % 200);
    const std::size_t fade = kSpeechSampleRate / 100;  // 10 ms
    std::string pcm;
    pcm.resize(frames * 2);
    for (std::size_t i = 0; i < frames; ++i) {
        double gain = 0.25;
        const std::size_t edge = std::min(i, frames - 1 - i);
        if (edge < fade) {
            gain *= static_cast<double>(edge) / static_cast<double>(fade);
        }
        const double phase =
            2.0 * std::numbers::pi * hz * static_cast<double>(i) / kSpeechSampleRate;
        const auto sample =
            static_cast<std::int16_t>(std::lround(gain * 32767.0 * std::sin(phase)));
        const auto u = static_cast<std::uint16_t>(sample);
        pcm[2 * i] = static_cast<char>(u & 0xFF);
        pcm[2 * i + 1] = static_cast<char>(u >> 8);
    }
    return pcm;
}

std::string base64_encode(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                                (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                                static_cast<unsigned char>(bytes[i + 2]);
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(kAlphabet[(v >> 6) & 63]);
        out.push_back(kAlphabet[v & 63]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
        if (rest == 2) {
            v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        }
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

json::object audio_response_object(std::string_view pcm, std::int64_t prompt_tokens,
                                   std::string_view model, std::string_view response_id) {
    json::object inline_data;
    inline_data["mimeType"] = kSpeechMimeType;
    inline_data["data"] = base64_encode(pcm);
    json::object part;
    part["inlineData"] = std::move(inline_data);
    json::object content;
    content["parts"] = json::array{std::move(part)};
    content["role"] = "model";
    json::object candidate;
    candidate["content"] = std::move(content);
    candidate["finishReason"] = "STOP";
    candidate["index"] = 0;
    json::object root;
    root["candidates"] = json::array{std::move(candidate)};
    const auto seconds = static_cast<double>(pcm.size() / 2) / kSpeechSampleRate;
    const auto audio_tokens = static_cast<std::int64_t>(std::ceil(seconds * 25.0));
    json::object usage;
    usage["promptTokenCount"] = prompt_tokens;
    usage["candidatesTokenCount"] = audio_tokens;
    usage["totalTokenCount"] = prompt_tokens + audio_tokens;
    root["usageMetadata"] = std::move(usage);
    root["modelVersion"] = model;
    root["responseId"] = response_id;
    return root;
}

}  // namespace confidant::emulator
