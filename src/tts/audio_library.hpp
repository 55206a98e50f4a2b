#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/task.hpp"
#include "tts/speaker.hpp"

namespace confidant {
class BlockingPool;
}  // namespace confidant

namespace confidant::tts {

struct AudioLibrarySettings {
    /// Where the WAV files live (AUDIO_DIR); created at start-up if missing.
    std::filesystem::path dir = "./data/audio";
};

/// One stored WAV file.
struct StoredAudio {
    /// 64 lower-case hex digits: SHA-256 of (speaker name, voice key, text). Content-derived,
    /// never taken from user input; the file is `<dir>/<id>.wav`.
    std::string id;
    std::filesystem::path path;
    std::uint64_t bytes = 0;  ///< file size (the whole WAV, header included)
    std::int64_t duration_ms = 0;
    /// True when this call synthesized it; false when it was already stored, or when this call
    /// joined an identical one in flight.
    bool synthesized = false;
};

/// Synthesized speech, stored once per content: the same text with the same speaker and voice is
/// synthesized once and then served from its file.
///
/// Files are written atomically: into a hidden temporary file in the same directory
/// (`.<id>.<random>.tmp`), fsynced, renamed to `<id>.wav`, and the directory fsynced, so a reader
/// (or a process restarted after a crash) sees a complete file or none. Temporary files an
/// earlier process left behind are removed at start-up when older than an hour. All file I/O runs
/// on the given BlockingPool, never on the awaiting (I/O) thread.
///
/// Thread-safe. Concurrent identical requests share one synthesis (single flight, also across
/// threads). Several processes may share the directory: they may each synthesize the same new
/// text once, and the renames leave one complete file. Cancellation: a caller that joined
/// another's synthesis waits for it; if the leading caller is cancelled, joiners get its
/// cancellation (boost::system::system_error) too.
class AudioLibrary {
  public:
    /// `files` runs the file I/O and must outlive the library. Creates the directory; throws
    /// std::filesystem::filesystem_error when it cannot.
    AudioLibrary(AudioLibrarySettings settings, BlockingPool& files);
    ~AudioLibrary();
    AudioLibrary(const AudioLibrary&) = delete;
    AudioLibrary& operator=(const AudioLibrary&) = delete;

    /// The id of `text` spoken by the speaker named `speaker` with `voice_key`
    /// (see Speaker::voice_key): hex SHA-256 over the three, each length-prefixed.
    static std::string key(std::string_view speaker, std::string_view voice_key,
                           std::string_view text);
    /// True for exactly 64 lower-case hex digits: the only ids `find` and `read` accept.
    static bool valid_id(std::string_view id) noexcept;

    /// The stored audio for `request`, synthesized by `speaker` if it is not stored yet. A
    /// synthesis failure is returned as the speaker's error and nothing is stored. Throws on
    /// file system faults (a full disk) and when cancelled.
    Task<Result<StoredAudio>> get_or_synthesize(Speaker& speaker, SpeechRequest request);

    /// A stored file by id; nothing when `id` is not a valid id, or no (valid) file has it.
    Task<std::optional<StoredAudio>> find(std::string id);

    /// Up to `length` bytes of the stored file `id` from `offset` (fewer at the end of the file;
    /// none at offset == size). `not_found` for an unknown or invalid id; `bad_request` for an
    /// offset past the end. For serving ranges: read in pieces of, say, 64 KiB.
    Task<Result<std::string>> read(std::string id, std::uint64_t offset, std::size_t length);

    /// Calls to Speaker::speak made so far (for tests and metrics).
    std::uint64_t synthesis_count() const noexcept {
        return syntheses_.load(std::memory_order_relaxed);
    }

    const std::filesystem::path& dir() const noexcept { return settings_.dir; }

    /// Tests only: called on the file thread with the complete, fsynced temporary file just
    /// before it is renamed into place; throwing from it simulates a crash at that moment.
    void set_before_publish_for_test(std::function<void(const std::filesystem::path&)> hook);

  private:
    struct Flights;

    std::filesystem::path path_of(std::string_view id) const;
    Task<Result<StoredAudio>> load_or_synthesize(Speaker& speaker, const SpeechRequest& request,
                                                 const std::string& id);

    AudioLibrarySettings settings_;
    BlockingPool& files_;
    std::unique_ptr<Flights> flights_;
    std::atomic<std::uint64_t> syntheses_{0};
    std::function<void(const std::filesystem::path&)> before_publish_;
};

}  // namespace confidant::tts
