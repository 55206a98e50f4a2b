#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tts/speaker.hpp"

namespace confidant::tts {

struct EspeakSettings {
    /// The voice when a request names none and gives no language: a language code of an
    /// installed espeak-ng voice ("en", "en-us", "ru", "de", ...). Must exist.
    std::string default_voice = "en";
    /// Speaking rate in words per minute, 80..450 (espeak-ng's range; 175 is its normal).
    int rate_wpm = 175;
};

/// libespeak-ng, in process: 22050 Hz, 16-bit mono WAV, voices by language code.
///
/// libespeak-ng keeps global state and is not thread-safe, so every call into it runs on one
/// process-wide engine thread (a BlockingPool of one thread) that all EspeakSpeaker instances
/// share; each utterance sets its own voice and rate there first, so instances with different
/// settings do not disturb each other. Callers on I/O threads just await `speak`; utterances
/// are served one at a time in arrival order.
///
/// Text is synthesized as plain text (no SSML, no `[[phonemes]]`), after `tts::plain_text`
/// (invalid UTF-8 and control characters become spaces). Empty text and text over
/// `kMaxTextBytes` are `bad_request`, as is a voice no installed espeak-ng voice speaks
/// (the message names it). Output longer than `kMaxAudioSeconds` is cut off with an error.
/// Cancellation: see Speaker (synthesis runs to the end of the utterance).
class EspeakSpeaker final : public Speaker {
  public:
    static constexpr std::size_t kMaxTextBytes = 64 * 1024;
    static constexpr int kMaxAudioSeconds = 30 * 60;

    /// Starts the shared engine on first use (loads espeak-ng's data: blocks the calling thread
    /// for a moment, so construct at start-up, not on an I/O thread). Throws std::runtime_error
    /// when espeak-ng cannot start, std::invalid_argument for an unknown default voice or a rate
    /// outside 80..450.
    explicit EspeakSpeaker(EspeakSettings settings = {});

    std::string_view name() const override { return "espeak"; }
    /// "<voice file>@<rate>wpm", e.g. "gmw/en@175wpm".
    std::string voice_key(const SpeechRequest& request) const override;
    Task<Result<Audio>> speak(SpeechRequest request) override;

    /// The engine's output rate as espeak-ng reports it (22050 Hz).
    std::uint32_t sample_rate() const;
    /// Language codes accepted as voices, sorted ("af", ..., "en", "en-us", ..., "zh").
    std::vector<std::string> voices() const;

  private:
    /// The voice file that speaks `request`, or nothing when neither its voice nor its language
    /// matches one; `asked` is set to what was looked up, for the error message.
    std::optional<std::string> resolve(const SpeechRequest& request, std::string& asked) const;

    EspeakSettings settings_;
    std::string default_file_;
};

}  // namespace confidant::tts
