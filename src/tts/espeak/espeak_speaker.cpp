#include "tts/espeak/espeak_speaker.hpp"

#include <espeak-ng/speak_lib.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>

#include "core/blocking_pool.hpp"
#include "tts/text.hpp"
#include "tts/wav.hpp"

namespace confidant::tts {

namespace {

// A name from a request, shortened for an error message.
std::string shown(std::string_view s) {
    return s.size() <= 64 ? std::string(s) : std::string(s.substr(0, 64)) + "...";
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (c == '_') {
            c = '-';  // "en_US" as a locale writes it
        }
    }
    return out;
}

// What one utterance collects on the engine thread.
struct Collector {
    std::vector<std::int16_t> samples;
    std::size_t max_samples = 0;
    bool overflow = false;
};

// Only the engine thread ever touches it: one utterance at a time.
thread_local Collector* current_collector = nullptr;

int on_samples(short* wav, int count, espeak_EVENT* /*events*/) {
    Collector* c = current_collector;
    if (c == nullptr || wav == nullptr || count <= 0) {
        return 0;
    }
    if (c->samples.size() + static_cast<std::size_t>(count) > c->max_samples) {
        c->overflow = true;
        return 1;  // abort the utterance
    }
    c->samples.insert(c->samples.end(), wav, wav + count);
    return 0;
}

// libespeak-ng's process-wide state and the one thread allowed to touch it.
class Engine {
  public:
    static Engine& instance() {
        static Engine engine;
        return engine;
    }

    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    ~Engine() {
        run_sync([] { espeak_Terminate(); });
        thread_.stop();
    }

    std::uint32_t sample_rate() const { return sample_rate_; }

    // Language code (lower case) → voice file, e.g. "en" → "gmw/en". Immutable after start.
    const std::map<std::string, std::string>& voices() const { return voices_; }

    // Speaks `text` (already made plain) with the voice in `file` at `rate` words a minute.
    Task<Result<std::vector<std::int16_t>>> synthesize(std::string file, int rate,
                                                       std::string text) {
        const std::size_t max_samples =
            static_cast<std::size_t>(sample_rate_) * EspeakSpeaker::kMaxAudioSeconds;
        // Named, not a temporary: GCC 12 destroys the captures of a lambda written inside a
        // co_await expression twice. By reference: this frame outlives the awaited call.
        auto work = [&file, rate, &text, max_samples]() -> Result<std::vector<std::int16_t>> {
            if (espeak_SetVoiceByName(file.c_str()) != EE_OK) {
                return make_error(ErrorCode::internal,
                                  fmt::format("espeak: cannot load voice file {}", file));
            }
            espeak_SetParameter(espeakRATE, rate, 0);
            Collector collector;
            collector.max_samples = max_samples;
            current_collector = &collector;
            const espeak_ERROR rc = espeak_Synth(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0,
                                                 espeakCHARS_UTF8, nullptr, nullptr);
            // Synchronous mode: every callback has run by now.
            espeak_Synchronize();
            current_collector = nullptr;
            if (collector.overflow) {
                return make_error(ErrorCode::bad_request,
                                  fmt::format("espeak: speech longer than {} s",
                                              EspeakSpeaker::kMaxAudioSeconds));
            }
            if (rc != EE_OK) {
                return make_error(ErrorCode::internal, fmt::format("espeak: synthesis failed ({})",
                                                                   static_cast<int>(rc)));
            }
            return std::move(collector.samples);
        };
        co_return co_await thread_.run(std::move(work));
    }

  private:
    Engine() {
        run_sync([this] {
            // DONT_EXIT: without it espeak-ng calls exit() when its data is missing.
            const int rate =
                espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
            if (rate <= 0) {
                throw std::runtime_error(
                    "espeak-ng failed to start (is espeak-ng-data installed?)");
            }
            sample_rate_ = static_cast<std::uint32_t>(rate);
            espeak_SetSynthCallback(&on_samples);
            load_voices();
        });
    }

    void load_voices() {
        const espeak_VOICE** list = espeak_ListVoices(nullptr);
        std::map<std::string, int> best;  // language → lowest priority seen
        for (auto** v = list; v != nullptr && *v != nullptr; ++v) {
            const std::string_view file = (*v)->identifier ? (*v)->identifier : "";
            // MBROLA voices need the mbrola program and its databases, which are not installed.
            if (file.empty() || file.starts_with("mb/")) {
                continue;
            }
            // `languages`: (priority byte, NUL-terminated name)* then a final NUL.
            for (const char* p = (*v)->languages; p != nullptr && *p != 0;) {
                const int priority = static_cast<unsigned char>(*p++);
                const std::string language = lower(p);
                p += std::char_traits<char>::length(p) + 1;
                auto it = best.find(language);
                if (!language.empty() && (it == best.end() || priority < it->second)) {
                    best[language] = priority;
                    voices_[language] = std::string(file);
                }
            }
        }
        if (voices_.empty()) {
            throw std::runtime_error("espeak-ng lists no voices (is espeak-ng-data installed?)");
        }
    }

    template <class F>
    void run_sync(F f) {
        std::packaged_task<void()> task(std::move(f));
        auto done = task.get_future();
        thread_.post([&task] { task(); });
        done.get();  // rethrows what `f` threw
    }

    BlockingPool thread_{1, "espeak"};
    std::uint32_t sample_rate_ = 0;
    std::map<std::string, std::string> voices_;
};

}  // namespace

EspeakSpeaker::EspeakSpeaker(EspeakSettings settings) : settings_(std::move(settings)) {
    if (settings_.rate_wpm < espeakRATE_MINIMUM || settings_.rate_wpm > espeakRATE_MAXIMUM) {
        throw std::invalid_argument(fmt::format("espeak: rate {} wpm is outside {}..{}",
                                                settings_.rate_wpm, espeakRATE_MINIMUM,
                                                espeakRATE_MAXIMUM));
    }
    const auto& voices = Engine::instance().voices();
    auto it = voices.find(lower(settings_.default_voice));
    if (it == voices.end()) {
        throw std::invalid_argument(
            fmt::format("espeak: no installed voice speaks '{}'", settings_.default_voice));
    }
    default_file_ = it->second;
}

std::uint32_t EspeakSpeaker::sample_rate() const { return Engine::instance().sample_rate(); }

std::vector<std::string> EspeakSpeaker::voices() const {
    std::vector<std::string> out;
    for (const auto& [language, file] : Engine::instance().voices()) {
        out.push_back(language);
    }
    return out;
}

std::optional<std::string> EspeakSpeaker::resolve(const SpeechRequest& request,
                                                  std::string& asked) const {
    const auto& voices = Engine::instance().voices();
    if (request.voice) {
        asked = *request.voice;
        auto it = voices.find(lower(*request.voice));
        return it == voices.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    if (request.language) {
        asked = *request.language;
        std::string language = lower(*request.language);
        // "en-GB" is spoken by "en-gb" if installed, else by "en".
        while (!language.empty()) {
            if (auto it = voices.find(language); it != voices.end()) {
                return it->second;
            }
            const auto dash = language.rfind('-');
            language.resize(dash == std::string::npos ? 0 : dash);
        }
        return std::nullopt;
    }
    asked = settings_.default_voice;
    return default_file_;
}

std::string EspeakSpeaker::voice_key(const SpeechRequest& request) const {
    std::string asked;
    const auto file = resolve(request, asked);
    return fmt::format("{}@{}wpm", file ? *file : "unknown:" + lower(shown(asked)),
                       settings_.rate_wpm);
}

Task<Result<Audio>> EspeakSpeaker::speak(SpeechRequest request) {
    if (request.text.empty()) {
        co_return make_error(ErrorCode::bad_request, "espeak: text is empty");
    }
    if (request.text.size() > kMaxTextBytes) {
        co_return make_error(ErrorCode::bad_request,
                             fmt::format("espeak: text of {} bytes is over the {}-byte limit",
                                         request.text.size(), kMaxTextBytes));
    }
    std::string asked;
    auto file = resolve(request, asked);
    if (!file) {
        co_return make_error(ErrorCode::bad_request,
                             fmt::format("espeak: unknown voice '{}'", shown(asked)));
    }
    Engine& engine = Engine::instance();
    auto samples = co_await engine.synthesize(std::move(*file), settings_.rate_wpm,
                                              tts::plain_text(request.text));
    if (!samples) {
        co_return samples.error();
    }
    Audio audio;
    audio.sample_rate = engine.sample_rate();
    audio.channels = 1;
    audio.bits_per_sample = 16;
    audio.duration_ms = frames_to_ms(samples->size(), audio.sample_rate);
    audio.wav = make_wav(*samples, audio.sample_rate, 1);
    co_return audio;
}

}  // namespace confidant::tts
