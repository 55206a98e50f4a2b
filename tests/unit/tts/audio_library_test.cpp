#include "tts/audio_library.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "core/blocking_pool.hpp"
#include "run.hpp"
#include "tts/espeak/espeak_speaker.hpp"
#include "tts/wav.hpp"

namespace confidant::tts {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// Speaks 10 samples of 8 kHz audio per byte of text after `delay`; "fail" fails. Counts calls.
class FakeSpeaker final : public Speaker {
  public:
    explicit FakeSpeaker(std::string name = "fake", std::chrono::milliseconds delay = 0ms)
        : name_(std::move(name)), delay_(delay) {}

    std::string_view name() const override { return name_; }
    std::string voice_key(const SpeechRequest& r) const override {
        return r.voice.value_or("default");
    }
    Task<Result<Audio>> speak(SpeechRequest request) override {
        calls_.fetch_add(1);
        if (delay_ > 0ms) {
            asio::steady_timer timer(co_await asio::this_coro::executor, delay_);
            co_await timer.async_wait(asio::use_awaitable);
        }
        if (request.text == "fail") {
            co_return make_error(ErrorCode::llm_unavailable, "fake: down");
        }
        std::vector<std::int16_t> samples(request.text.size() * 10, 1000);
        Audio audio;
        audio.wav = make_wav(samples, 8000);
        audio.sample_rate = 8000;
        audio.channels = 1;
        audio.bits_per_sample = 16;
        audio.duration_ms = frames_to_ms(samples.size(), 8000);
        co_return audio;
    }
    int calls() const { return calls_.load(); }

  private:
    std::string name_;
    std::chrono::milliseconds delay_;
    std::atomic<int> calls_{0};
};

class AudioLibraryTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "confidant-audio-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        root_ = tmpl;
        dir_ = root_ / "audio";
        library_ = std::make_unique<AudioLibrary>(AudioLibrarySettings{.dir = dir_}, files_);
    }
    void TearDown() override {
        library_.reset();
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    Result<StoredAudio> get(Speaker& speaker, SpeechRequest request) {
        return test::run(ioc_, library_->get_or_synthesize(speaker, std::move(request)));
    }

    std::set<std::string> files_in(const fs::path& dir) {
        std::set<std::string> names;
        for (const auto& e : fs::directory_iterator(dir)) {
            names.insert(e.path().filename().string());
        }
        return names;
    }

    std::string slurp(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    BlockingPool files_{2, "audio-files"};
    asio::io_context ioc_;
    fs::path root_;
    fs::path dir_;
    std::unique_ptr<AudioLibrary> library_;
};

TEST_F(AudioLibraryTest, SameTextTwiceIsSynthesizedOnceAndSharesTheFile) {
    FakeSpeaker speaker;
    auto first = get(speaker, {.text = "Hello there"});
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(first->synthesized);
    EXPECT_TRUE(AudioLibrary::valid_id(first->id));
    EXPECT_EQ(first->path, dir_ / (first->id + ".wav"));
    EXPECT_EQ(first->bytes, kWavHeaderBytes + 11 * 10 * 2);
    EXPECT_EQ(first->duration_ms, 13);  // 110 samples at 8 kHz
    EXPECT_EQ(fs::file_size(first->path), first->bytes);
    EXPECT_TRUE(parse_wav(slurp(first->path)));

    auto second = get(speaker, {.text = "Hello there"});
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->synthesized);
    EXPECT_EQ(second->id, first->id);
    EXPECT_EQ(second->path, first->path);
    EXPECT_EQ(second->bytes, first->bytes);
    EXPECT_EQ(second->duration_ms, first->duration_ms);
    EXPECT_EQ(speaker.calls(), 1);
    EXPECT_EQ(library_->synthesis_count(), 1u);

    // A new library on the same directory (a restart) finds it too.
    AudioLibrary again({.dir = dir_}, files_);
    auto third = test::run(ioc_, again.get_or_synthesize(speaker, {.text = "Hello there"}));
    ASSERT_TRUE(third);
    EXPECT_FALSE(third->synthesized);
    EXPECT_EQ(speaker.calls(), 1);
}

TEST_F(AudioLibraryTest, AnotherVoiceOrSpeakerIsAnotherFile) {
    FakeSpeaker fake;
    FakeSpeaker other("other");
    auto a = get(fake, {.text = "Hi", .voice = "a"});
    auto b = get(fake, {.text = "Hi", .voice = "b"});
    auto c = get(other, {.text = "Hi", .voice = "a"});
    auto d = get(fake, {.text = "Hi!", .voice = "a"});
    ASSERT_TRUE(a && b && c && d);
    EXPECT_EQ(std::set<std::string>({a->id, b->id, c->id, d->id}).size(), 4u);
    EXPECT_EQ(fake.calls(), 3);
    EXPECT_EQ(other.calls(), 1);
    EXPECT_EQ(files_in(dir_).size(), 4u);
    // The id is SHA-256 over length-prefixed parts: no ambiguity between the fields.
    EXPECT_NE(AudioLibrary::key("ab", "c", "d"), AudioLibrary::key("a", "bc", "d"));
    EXPECT_EQ(AudioLibrary::key("fake", "a", "Hi"), a->id);
}

TEST_F(AudioLibraryTest, ConcurrentIdenticalRequestsSynthesizeOnce) {
    FakeSpeaker slow("fake", 200ms);
    constexpr int kCalls = 8;
    std::atomic<int> ok{0};
    std::atomic<int> synthesized{0};
    std::mutex mu;
    std::set<std::string> ids;
    ioc_.restart();
    for (int i = 0; i < kCalls; ++i) {
        asio::co_spawn(ioc_, library_->get_or_synthesize(slow, {.text = "same words"}),
                       [&](std::exception_ptr e, Result<StoredAudio> r) {
                           if (!e && r) {
                               ++ok;
                               synthesized += r->synthesized ? 1 : 0;
                               std::lock_guard lock(mu);
                               ids.insert(r->id);
                           }
                       });
    }
    std::thread second([this] { ioc_.run(); });
    ioc_.run();
    second.join();
    EXPECT_EQ(ok.load(), kCalls);
    EXPECT_EQ(slow.calls(), 1);
    EXPECT_EQ(synthesized.load(), 1);
    EXPECT_EQ(ids.size(), 1u);
}

TEST_F(AudioLibraryTest, FilesHaveServerMadeNamesOnly) {
    FakeSpeaker speaker;
    const std::vector<SpeechRequest> hostile = {
        {.text = "../../etc/passwd", .voice = "../../x"},
        {.text = "/absolute/path.wav", .voice = "/tmp/evil"},
        {.text = std::string("nul\0byte", 8), .voice = std::string("v\0", 2)},
        {.text = "name.wav", .voice = "..", .language = "../.."},
    };
    for (const auto& r : hostile) {
        ASSERT_TRUE(get(speaker, r));
    }
    const auto names = files_in(dir_);
    EXPECT_EQ(names.size(), hostile.size());
    for (const auto& n : names) {
        // <64 lower-case hex digits>.wav
        EXPECT_TRUE(n.size() == 68 && n.ends_with(".wav") &&
                    AudioLibrary::valid_id(std::string_view(n).substr(0, 64)))
            << n;
    }
    // Nothing was written outside the directory.
    EXPECT_EQ(files_in(root_), std::set<std::string>{"audio"});
}

TEST_F(AudioLibraryTest, APartlyWrittenFileIsNeverVisible) {
    FakeSpeaker speaker;
    const std::string id = AudioLibrary::key("fake", "default", "atomic please");
    const fs::path final_path = dir_ / (id + ".wav");
    bool checked = false;
    library_->set_before_publish_for_test([&](const fs::path& temp) {
        // Complete and on disk, but under a hidden temporary name: not yet where readers look.
        checked = true;
        EXPECT_EQ(temp.parent_path(), dir_);
        EXPECT_EQ(temp.filename().string().front(), '.');
        EXPECT_TRUE(parse_wav(slurp(temp)));
        EXPECT_FALSE(fs::exists(final_path));
    });
    ASSERT_TRUE(get(speaker, {.text = "atomic please"}));
    EXPECT_TRUE(checked);
    EXPECT_TRUE(fs::exists(final_path));

    // A crash just before the rename leaves no file and no temporary behind.
    const std::string other = AudioLibrary::key("fake", "default", "crash here");
    library_->set_before_publish_for_test(
        [](const fs::path&) { throw std::runtime_error("simulated crash"); });
    EXPECT_THROW(get(speaker, {.text = "crash here"}), std::runtime_error);
    EXPECT_FALSE(fs::exists(dir_ / (other + ".wav")));
    EXPECT_EQ(files_in(dir_), std::set<std::string>{id + ".wav"});
    EXPECT_FALSE(test::run(ioc_, library_->find(other)));

    // The next call synthesizes it again.
    library_->set_before_publish_for_test({});
    auto retried = get(speaker, {.text = "crash here"});
    ASSERT_TRUE(retried);
    EXPECT_TRUE(retried->synthesized);
    EXPECT_EQ(speaker.calls(), 3);
}

TEST_F(AudioLibraryTest, StaleTemporariesAreRemovedAtStartUp) {
    const fs::path old_temp = dir_ / ".abc.1234.tmp";
    const fs::path fresh_temp = dir_ / ".def.5678.tmp";
    std::ofstream(old_temp) << "half a file";
    std::ofstream(fresh_temp) << "being written right now";
    fs::last_write_time(old_temp, fs::file_time_type::clock::now() - 2h);
    AudioLibrary restarted({.dir = dir_}, files_);
    EXPECT_FALSE(fs::exists(old_temp));
    EXPECT_TRUE(fs::exists(fresh_temp));
}

TEST_F(AudioLibraryTest, AFailedSynthesisStoresNothing) {
    FakeSpeaker speaker;
    auto r = get(speaker, {.text = "fail"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::llm_unavailable);
    EXPECT_TRUE(files_in(dir_).empty());
    EXPECT_FALSE(get(speaker, {.text = "fail"}));
    EXPECT_EQ(speaker.calls(), 2);  // errors are not cached
}

TEST_F(AudioLibraryTest, ADamagedFileIsReplaced) {
    FakeSpeaker speaker;
    const std::string id = AudioLibrary::key("fake", "default", "Hello");
    std::ofstream(dir_ / (id + ".wav")) << "RIFF garbage";
    EXPECT_FALSE(test::run(ioc_, library_->find(id)));
    auto r = get(speaker, {.text = "Hello"});
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->synthesized);
    EXPECT_TRUE(parse_wav(slurp(r->path)));
}

TEST_F(AudioLibraryTest, FindAndReadForServing) {
    FakeSpeaker speaker;
    auto stored = get(speaker, {.text = "Read me in ranges"});
    ASSERT_TRUE(stored);
    const std::string whole = slurp(stored->path);

    auto found = test::run(ioc_, library_->find(stored->id));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->bytes, whole.size());
    EXPECT_EQ(found->duration_ms, stored->duration_ms);
    EXPECT_EQ(found->path, stored->path);

    auto read = [&](std::string id, std::uint64_t offset, std::size_t length) {
        return test::run(ioc_, library_->read(std::move(id), offset, length));
    };
    EXPECT_EQ(read(stored->id, 0, kWavHeaderBytes).value(), whole.substr(0, kWavHeaderBytes));
    EXPECT_EQ(read(stored->id, 100, 50).value(), whole.substr(100, 50));
    EXPECT_EQ(read(stored->id, whole.size() - 10, 100).value(), whole.substr(whole.size() - 10));
    EXPECT_EQ(read(stored->id, whole.size(), 10).value(), "");
    auto past = read(stored->id, whole.size() + 1, 1);
    ASSERT_FALSE(past);
    EXPECT_EQ(past.error().code, ErrorCode::bad_request);
    auto missing = read(std::string(64, 'a'), 0, 1);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::not_found);
    auto invalid = read("../audio/" + stored->id, 0, 1);
    ASSERT_FALSE(invalid);
    EXPECT_EQ(invalid.error().code, ErrorCode::not_found);
    EXPECT_FALSE(test::run(ioc_, library_->find("../../etc/passwd")));
    EXPECT_FALSE(test::run(ioc_, library_->find(std::string(64, 'A'))));  // upper case: not ours
}

TEST_F(AudioLibraryTest, WithTheRealEspeakSpeaker) {
    EspeakSpeaker espeak;
    auto first = get(espeak, {.text = "Hello there"});
    auto second = get(espeak, {.text = "Hello there"});
    auto german = get(espeak, {.text = "Hello there", .voice = "de"});
    ASSERT_TRUE(first && second && german);
    EXPECT_TRUE(first->synthesized);
    EXPECT_FALSE(second->synthesized);
    EXPECT_EQ(first->id, second->id);
    EXPECT_NE(first->id, german->id);
    EXPECT_EQ(library_->synthesis_count(), 2u);
    auto info = parse_wav(slurp(first->path));
    ASSERT_TRUE(info);
    EXPECT_EQ(info->format.sample_rate, 22050u);
    EXPECT_EQ(info->duration_ms, first->duration_ms);
}

}  // namespace
}  // namespace confidant::tts
