#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/task.hpp"

namespace confidant::tts {

/// What to say and how.
struct SpeechRequest {
    /// UTF-8 text, spoken literally: no SSML or other markup is interpreted. Validating it
    /// (API.md: 1..2000 code points) is the caller's job; a speaker survives anything (invalid
    /// UTF-8, control bytes, NULs) and refuses only empty or absurdly long text.
    std::string text;
    /// The speaker's voice name: espeak takes a language code ("en", "en-us", "ru", "de"),
    /// Gemini a prebuilt voice ("Kore", "Puck", ...). Unset: the speaker's default voice.
    std::optional<std::string> voice;
    /// A BCP 47 language hint ("en-US"). espeak picks its voice by it when `voice` is unset;
    /// Gemini passes it on as `speechConfig.languageCode`.
    std::optional<std::string> language;
};

/// Synthesized speech: a whole RIFF/WAVE PCM file in memory and its format.
struct Audio {
    std::string wav;  ///< the file's bytes, header included (see tts/wav.hpp)
    std::uint32_t sample_rate = 0;
    std::uint16_t channels = 0;
    std::uint16_t bits_per_sample = 0;
    std::int64_t duration_ms = 0;
};

/// Text to speech. Implementations: EspeakSpeaker (in-process libespeak-ng) and GeminiSpeaker
/// (Gemini's TTS models over REST).
///
/// Threads: calls are awaited and never block the awaiting (I/O) thread; concurrent calls from
/// any threads are allowed. Cancellation: an HTTP speaker reacts to terminal cancellation of
/// the awaiting coroutine by closing its connection and throwing
/// boost::system::system_error(operation_aborted); espeak's synthesis cannot be interrupted, so
/// its call returns when the utterance is done (a few seconds at most for API-sized text).
///
/// Expected failures are values: `bad_request` (empty or oversized text, an unknown voice, a
/// request the service refuses), `rate_limited` (429, with `retry_after_s` when known: retry
/// later), `quota_exceeded` (a per-day quota: do not retry today), `llm_unavailable` (5xx,
/// timeouts, no connection, an answer that cannot be read: worth retrying with backoff).
/// Faults (out of memory, an engine that cannot start) are exceptions.
class Speaker {
  public:
    virtual ~Speaker() = default;

    /// "espeak" or "gemini"; part of the audio cache key.
    virtual std::string_view name() const = 0;

    /// Everything besides the text and `name()` that decides the sound of `request`: the voice
    /// that will actually speak (the default one when none is asked for), the language, the
    /// model or rate. Equal keys with equal text give the same audio, so the audio cache keys on
    /// it. Does not validate: an unknown voice still gets a key (and `speak` fails).
    virtual std::string voice_key(const SpeechRequest& request) const = 0;

    /// Speaks `request.text`; returns a whole WAV file.
    virtual Task<Result<Audio>> speak(SpeechRequest request) = 0;
};

}  // namespace confidant::tts
