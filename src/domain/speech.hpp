#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "queue/workers.hpp"
#include "storage/ops/jobs.hpp"

namespace confidant::tts {
class Speaker;
class AudioLibrary;
}  // namespace confidant::tts

namespace confidant::domain {

/// The companion's voice: the `tts` job type. A job's payload is `{"text", "voice"?}`; a
/// succeeded job's result is `{"audio_url": "/v1/audio/<job id>", "format": "audio/wav",
/// "duration_ms", "bytes"}`, and the audio (stored once per text, voice and speaker by the
/// AudioLibrary) is recorded as the job user's in the transaction that finishes the job.
class Speech {
  public:
    static constexpr const char* kJobType = "tts";

    Speech(tts::Speaker& speaker, tts::AudioLibrary& library, const Clock& clock = Clock::real());

    /// A TTS job for `user` (3 attempts: synthesis failures are usually transient).
    static storage::NewJob job_for(storage::UserId user, const std::string& text,
                                   const std::optional<std::string>& voice);
    /// The job type to register with the worker pool.
    queue::JobType job_type();

    tts::AudioLibrary& library() { return library_; }

  private:
    class Handler;
    tts::Speaker& speaker_;
    tts::AudioLibrary& library_;
    const Clock& clock_;
};

}  // namespace confidant::domain
