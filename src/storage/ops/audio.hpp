#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "storage/ops/jobs.hpp"

namespace confidant::storage {

/// Speech made for a user: a file under AUDIO_DIR (named by the server), owned by the user of
/// the TTS job that made it; its id is that job's id.
struct AudioRow {
    std::int64_t id = 0;
    UserId user_id = 0;
    std::string file;  ///< name under AUDIO_DIR
    std::int64_t bytes = 0;
    std::int64_t duration_ms = 0;
    UnixMillis created_at = 0;
};

namespace ops {

/// Records the audio of TTS job `audio.id`, but only while that job is still running under
/// `fence` (so it is written in the transaction that finishes the job, and not at all by a
/// worker whose lease was taken over). Returns whether it was recorded.
struct StoreAudio {
    static constexpr const char* kName = "store_audio";
    static constexpr bool kWrites = true;
    using Result = bool;
    AudioRow audio;
    std::int64_t fence = 0;
};

/// The audio `id` when it belongs to `user_id`.
struct FindAudio {
    static constexpr const char* kName = "find_audio";
    static constexpr bool kWrites = false;
    using Result = std::optional<AudioRow>;
    std::int64_t id = 0;
    UserId user_id = 0;
};

}  // namespace ops
}  // namespace confidant::storage
