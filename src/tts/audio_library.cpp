#include "tts/audio_library.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <random>
#include <system_error>
#include <utility>

#include "cache/single_flight.hpp"
#include "core/blocking_pool.hpp"
#include "tts/wav.hpp"

namespace confidant::tts {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHeadBytes = 4096;  // enough for the chunks before `data`
constexpr auto kStaleTemporary = std::chrono::hours(1);
constexpr std::string_view kTemporarySuffix = ".tmp";

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// Closes a descriptor however the scope ends.
class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const noexcept { return fd_; }
    // Closes now and reports a failure (for written files, close can report a write error).
    void close_or_throw(const std::string& what) {
        const int fd = std::exchange(fd_, -1);
        if (::close(fd) != 0) {
            throw_errno(what);
        }
    }

  private:
    int fd_;
};

// Opens a stored file for reading: regular files only, never through a symbolic link.
int open_stored(const fs::path& path) {
    return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

// Reads up to `length` bytes at `offset`; fewer at the end of the file.
std::string read_at(int fd, std::uint64_t offset, std::size_t length, const fs::path& path) {
    std::string out(length, '\0');
    std::size_t got = 0;
    while (got < length) {
        const ssize_t n =
            ::pread(fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("read " + path.string());
        }
        if (n == 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
}

// The stored file at `path` if it exists and is a valid WAV; runs on the file thread.
std::optional<StoredAudio> stat_stored(const fs::path& path, const std::string& id) {
    Fd fd(open_stored(path));
    if (fd.get() < 0) {
        if (errno == ENOENT || errno == ELOOP) {
            return std::nullopt;
        }
        throw_errno("open " + path.string());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw_errno("stat " + path.string());
    }
    if (!S_ISREG(st.st_mode)) {
        return std::nullopt;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::string head = read_at(fd.get(), 0, kHeadBytes, path);
    auto info = parse_wav_header(head, size);
    if (!info) {
        return std::nullopt;  // not ours or damaged: treated as absent (and replaced)
    }
    return StoredAudio{id, path, size, info->duration_ms, false};
}

std::string random_hex() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{:016x}", rng());
}

void fsync_dir(const fs::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
        throw_errno("fsync " + dir.string());
    }
}

// Writes `bytes` to `final_path` atomically (temporary file, fsync, rename, fsync of the
// directory); runs on the file thread.
void write_atomically(const fs::path& dir, const std::string& id, const fs::path& final_path,
                      std::string_view bytes,
                      const std::function<void(const fs::path&)>& before_publish) {
    const fs::path temp = dir / fmt::format(".{}.{}{}", id, random_hex(), kTemporarySuffix);
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (fd.get() < 0) {
        throw_errno("create " + temp.string());
    }
    try {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                throw_errno("write " + temp.string());
            }
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd.get()) != 0) {
            throw_errno("fsync " + temp.string());
        }
        fd.close_or_throw("close " + temp.string());
        if (before_publish) {
            before_publish(temp);
        }
        if (::rename(temp.c_str(), final_path.c_str()) != 0) {
            throw_errno("rename " + temp.string());
        }
    } catch (...) {
        ::unlink(temp.c_str());
        throw;
    }
    fsync_dir(dir);
}

// Removes temporary files a crashed process left behind (old enough not to be in progress).
void remove_stale_temporaries(const fs::path& dir) {
    const auto now = fs::file_time_type::clock::now();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with(".") || !name.ends_with(kTemporarySuffix)) {
            continue;
        }
        std::error_code entry_ec;
        const auto written = entry.last_write_time(entry_ec);
        if (!entry_ec && now - written > kStaleTemporary) {
            fs::remove(entry.path(), entry_ec);
        }
    }
}

void append_part(std::string& out, std::string_view part) {
    const std::uint64_t n = part.size();
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    }
    out.append(part);
}

}  // namespace

struct AudioLibrary::Flights {
    cache::SingleFlight<Result<StoredAudio>> flight;
};

AudioLibrary::AudioLibrary(AudioLibrarySettings settings, BlockingPool& files)
    : settings_(std::move(settings)), files_(files), flights_(std::make_unique<Flights>()) {
    fs::create_directories(settings_.dir);
    remove_stale_temporaries(settings_.dir);
}

AudioLibrary::~AudioLibrary() = default;

std::string AudioLibrary::key(std::string_view speaker, std::string_view voice_key,
                              std::string_view text) {
    // Length-prefixed parts: ("ab", "c") and ("a", "bc") must not collide.
    std::string input = "confidant-tts-v1";
    append_part(input, speaker);
    append_part(input, voice_key);
    append_part(input, text);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");
    }
    std::string hex;
    hex.reserve(2 * size);
    for (unsigned int i = 0; i < size; ++i) {
        fmt::format_to(std::back_inserter(hex), "{:02x}", digest[i]);
    }
    return hex;
}

bool AudioLibrary::valid_id(std::string_view id) noexcept {
    if (id.size() != 64) {
        return false;
    }
    for (const char c : id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

fs::path AudioLibrary::path_of(std::string_view id) const {
    return settings_.dir / (std::string(id) + ".wav");
}

void AudioLibrary::set_before_publish_for_test(std::function<void(const fs::path&)> hook) {
    before_publish_ = std::move(hook);
}

Task<Result<StoredAudio>> AudioLibrary::get_or_synthesize(Speaker& speaker, SpeechRequest request) {
    const std::string id = key(speaker.name(), speaker.voice_key(request), request.text);
    bool led = false;
    // Named, not a temporary: GCC 12 destroys a capturing lambda built inside a co_await
    // expression twice. By reference: this frame outlives the flight it leads or joins.
    std::function<Task<Result<StoredAudio>>()> loader = [this, &speaker, &request, &id,
                                                         &led]() -> Task<Result<StoredAudio>> {
        led = true;
        co_return co_await load_or_synthesize(speaker, request, id);
    };
    Result<StoredAudio> result = co_await flights_->flight.run(id, std::move(loader));
    if (result && !led) {
        result->synthesized = false;
    }
    co_return result;
}

Task<Result<StoredAudio>> AudioLibrary::load_or_synthesize(Speaker& speaker,
                                                           const SpeechRequest& request,
                                                           const std::string& id) {
    const fs::path path = path_of(id);
    auto lookup = [&path, &id] { return stat_stored(path, id); };
    std::optional<StoredAudio> stored = co_await files_.run(std::move(lookup));
    if (stored) {
        co_return std::move(*stored);
    }
    syntheses_.fetch_add(1, std::memory_order_relaxed);
    Result<Audio> audio = co_await speaker.speak(request);
    if (!audio) {
        co_return audio.error();
    }
    auto write = [this, &path, &id, &audio] {
        write_atomically(settings_.dir, id, path, audio->wav, before_publish_);
    };
    co_await files_.run(std::move(write));
    co_return StoredAudio{id, path, audio->wav.size(), audio->duration_ms, true};
}

Task<std::optional<StoredAudio>> AudioLibrary::find(std::string id) {
    if (!valid_id(id)) {
        co_return std::nullopt;
    }
    const fs::path path = path_of(id);
    auto lookup = [&path, &id] { return stat_stored(path, id); };
    co_return co_await files_.run(std::move(lookup));
}

Task<Result<std::string>> AudioLibrary::read(std::string id, std::uint64_t offset,
                                             std::size_t length) {
    if (!valid_id(id)) {
        co_return make_error(ErrorCode::not_found, "no such audio");
    }
    const fs::path path = path_of(id);
    auto work = [&path, offset, length]() -> Result<std::string> {
        Fd fd(open_stored(path));
        if (fd.get() < 0) {
            if (errno == ENOENT || errno == ELOOP) {
                return make_error(ErrorCode::not_found, "no such audio");
            }
            throw_errno("open " + path.string());
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) {
            throw_errno("stat " + path.string());
        }
        if (!S_ISREG(st.st_mode)) {
            return make_error(ErrorCode::not_found, "no such audio");
        }
        const auto size = static_cast<std::uint64_t>(st.st_size);
        if (offset > size) {
            return make_error(ErrorCode::bad_request,
                              fmt::format("offset {} is past the end ({} bytes)", offset, size));
        }
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, size - offset));
        return read_at(fd.get(), offset, n, path);
    };
    co_return co_await files_.run(std::move(work));
}

}  // namespace confidant::tts
