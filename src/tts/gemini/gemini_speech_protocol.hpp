#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "llm/provider.hpp"
#include "tts/speaker.hpp"

/// Gemini's speech wire format (generateContent on a TTS model with responseModalities AUDIO),
/// kept apart from the transport so it can be tested on its own.
namespace confidant::tts::gemini {

/// Gemini's prebuilt voice `name` spelled as Gemini spells it ("kore" → "Kore"), or nothing
/// when it is none of the 30 prebuilt voices.
std::optional<std::string> canonical_voice(std::string_view name);

/// The JSON body: `contents` with one user turn holding `text` (sent as it is: Gemini's TTS
/// models may follow spoken-style cues in it, such as "Say cheerfully:"), and `generationConfig`
/// {responseModalities: ["AUDIO"], speechConfig: {voiceConfig: {prebuiltVoiceConfig:
/// {voiceName}}, languageCode (when not empty)}}.
std::string build_speech_body(std::string_view text, std::string_view voice,
                              std::string_view language);

/// Reads the audio of a 2xx answer: the `inlineData` parts of candidates[0] (base64 `data`),
/// `audio/L16` or `audio/pcm` (16-bit little-endian PCM, `rate=` and `channels=` parameters,
/// 24000 Hz mono when absent; several parts are joined) wrapped into a WAV, or an `audio/wav`
/// part validated and taken as it is. A blocked prompt or a safety stop is `bad_request`;
/// invalid JSON, no audio, bad base64 or an unknown audio type is `llm_unavailable` (the answer
/// was unusable; another attempt may do better).
Result<Audio> parse_speech_response(std::string_view body);

/// A failed call as the Speaker interface reports it: rate_limited (with retry_after_s rounded
/// up to whole seconds), quota_exhausted → quota_exceeded, timeouts / unavailable / protocol
/// → llm_unavailable, a rejected 400 → bad_request, other rejections (401, 403, 404: wrong
/// key or model) → internal. `cancelled` must be handled by the caller.
Error to_error(const llm::ProviderError& e);

/// Standard or URL-safe base64, padding optional, no whitespace; nothing when malformed.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace confidant::tts::gemini
