#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "tts/speaker.hpp"

namespace confidant::http_client {
class Client;
}  // namespace confidant::http_client

namespace confidant::tts {

struct GeminiSpeakerSettings {
    std::string api_key;  ///< sent as `x-goog-api-key` (the chat provider's GEMINI_API_KEY)
    std::string model = "gemini-2.5-flash-preview-tts";  ///< GEMINI_TTS_MODEL
    /// Scheme + host (+ port); a trailing '/' or '/v1beta' is accepted and ignored.
    std::string base_url = "https://generativelanguage.googleapis.com";
    /// A prebuilt voice, used when a request names none. Must be one of Gemini's 30.
    std::string default_voice = "Kore";
    /// TCP connect + TLS handshake (and the wait for a pooled connection slot).
    std::chrono::milliseconds connect_timeout{5000};
    /// Longest wait for the answer's head, then between body bytes. Speech takes longer than
    /// text: a minute of audio can take tens of seconds.
    std::chrono::milliseconds read_timeout{120'000};
};

/// Gemini's TTS models over REST: `POST {base}/v1beta/models/{model}:generateContent` with
/// `responseModalities: ["AUDIO"]` and a prebuilt voice; the answer's 24 kHz 16-bit mono PCM
/// (`audio/L16;codec=pcm;rate=24000`, base64) is wrapped into a WAV.
///
/// `SpeechRequest::voice` is a prebuilt voice name, case-insensitive ("kore" is "Kore"); an
/// unknown one is `bad_request` naming it, without a call. `language` becomes
/// `speechConfig.languageCode` (letters, digits and '-' only, else `bad_request`). The text is
/// sent after `tts::plain_text` (valid UTF-8, no control characters); empty text or more than
/// `kMaxTextBytes` is `bad_request`. Failures are values as Speaker describes (see
/// `gemini::to_error` for the mapping of HTTP answers); no retries here: the job queue retries.
///
/// Thread-safe; connections come from the shared `http_client::Client` pool. Every wait is
/// bounded by the connect and read timeouts. Cancellation closes the connection and throws
/// boost::system::system_error(operation_aborted).
class GeminiSpeaker final : public Speaker {
  public:
    static constexpr std::size_t kMaxTextBytes = 32 * 1024;

    /// `client` must be non-null; it may be shared with the chat provider. Throws
    /// std::invalid_argument for an unknown default voice.
    GeminiSpeaker(GeminiSpeakerSettings settings, std::shared_ptr<http_client::Client> client);

    std::string_view name() const override { return "gemini"; }
    /// "<model>/<voice>[/<language>]", e.g. "gemini-2.5-flash-preview-tts/Kore/en-US".
    std::string voice_key(const SpeechRequest& request) const override;
    Task<Result<Audio>> speak(SpeechRequest request) override;

  private:
    GeminiSpeakerSettings settings_;
    std::string base_url_;  // normalised: no trailing '/' or '/v1beta'
    std::shared_ptr<http_client::Client> client_;
};

}  // namespace confidant::tts
