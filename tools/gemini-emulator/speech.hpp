#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "options.hpp"

/// Gemini's speech answers (generateContent with responseModalities ["AUDIO"]), emulated: a tone
/// whose length grows with the text, as 24 kHz 16-bit mono PCM (`audio/L16;codec=pcm;rate=24000`).
namespace confidant::emulator {

inline constexpr std::uint32_t kSpeechSampleRate = 24'000;
inline constexpr std::string_view kSpeechMimeType = "audio/L16;codec=pcm;rate=24000";
/// The voice when the request names none.
inline constexpr std::string_view kDefaultVoice = "Kore";

/// True for the names of Gemini's 30 prebuilt voices ("Kore", "Puck", ...), case-sensitive.
bool is_prebuilt_voice(std::string_view name) noexcept;

/// The tone's length for `text`: tts_ms_per_char per UTF-8 code point (at least one), capped at
/// tts_max_ms.
std::int64_t speech_duration_ms(std::string_view text, const Knobs& knobs) noexcept;

/// `duration_ms` of a sine tone, signed 16-bit little-endian mono at 24 kHz, with 10 ms fades at
/// both ends. Its pitch (150..349 Hz) comes from `voice`: the same voice and length give the same
/// bytes.
std::string tone_pcm(std::int64_t duration_ms, std::string_view voice);

/// Standard base64 with padding (what Google's JSON uses for `bytes` fields).
std::string base64_encode(std::string_view bytes);

/// One GenerateContentResponse whose single part is `inlineData` {mimeType, data}. Usage counts
/// the prompt's tokens and 25 tokens per second of audio, like Gemini's TTS models.
boost::json::object audio_response_object(std::string_view pcm, std::int64_t prompt_tokens,
                                          std::string_view model, std::string_view response_id);

}  // namespace confidant::emulator
