#include "llm/offline/offline_provider.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace confidant::llm {
namespace {

namespace asio = boost::asio;

constexpr std::size_t kMaxQuoted = 200;  // bytes of the user's message echoed back
constexpr std::size_t kMaxPersona = 60;  // bytes of the persona named in the reply

constexpr std::array<std::string_view, 5> kFollowUps = {
    "Tell me more about that, I'm listening.",
    "How does that make you feel?",
    "That sounds important to you. What happened next?",
    "I'm here with you. What would help right now?",
    "Thank you for sharing that with me. What's on your mind besides this?",
};

// FNV-1a: the same choice on every platform and every run (std::hash promises neither).
std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 14695981039346656037ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Cuts at most `max` bytes without splitting a UTF-8 sequence, collapsing whitespace runs so the
// quote stays on one line.
std::string excerpt(std::string_view s, std::size_t max) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    bool truncated = false;
    if (s.size() > max) {
        std::size_t cut = max;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
            --cut;  // s[cut] is a continuation byte: back up to the start of its sequence
        }
        s = s.substr(0, cut);
        truncated = true;
    }
    std::string out;
    out.reserve(s.size() + 3);
    bool in_space = false;
    for (char c : s) {
        if (is_space(c)) {
            in_space = true;
            continue;
        }
        if (in_space && !out.empty()) {
            out.push_back(' ');
        }
        in_space = false;
        out.push_back(c);
    }
    if (truncated) {
        out += "...";
    }
    return out;
}

// The persona's first line, e.g. "You are Mira, a warm companion." → named in the reply.
std::string persona_line(std::string_view system_instruction) {
    const auto end = system_instruction.find('\n');
    return excerpt(system_instruction.substr(0, end), kMaxPersona);
}

int count_words(std::string_view s) {
    int words = 0;
    bool in_word = false;
    for (char c : s) {
        if (is_space(c)) {
            in_word = false;
        } else if (!in_word) {
            in_word = true;
            ++words;
        }
    }
    return words;
}

// Words with their following whitespace: the pieces join back to exactly `text`.
std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t j = i;
        while (j < text.size() && !is_space(text[j])) {
            ++j;
        }
        while (j < text.size() && is_space(text[j])) {
            ++j;
        }
        out.push_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

ProviderError cancelled_error() {
    ProviderError e;
    e.kind = FailureKind::cancelled;
    e.message = "the caller went away";
    return e;
}

/// Awaits `d` (if any); false when cancelled first.
Task<bool> wait_latency(std::chrono::milliseconds d) {
    if (d.count() <= 0) {
        co_return true;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    boost::system::error_code ec;
    try {
        auto [waited] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        ec = waited;
    } catch (const boost::system::system_error& e) {
        ec = e.code();
    }
    co_return !ec;
}

}  // namespace

OfflineProvider::OfflineProvider(OfflineSettings settings) : settings_(std::move(settings)) {}

std::string OfflineProvider::reply_text(const CompletionRequest& request) {
    std::string_view message;
    for (auto it = request.contents.rbegin(); it != request.contents.rend(); ++it) {
        if (it->role == Turn::Role::user) {
            message = it->text;
            break;
        }
    }
    const std::string quoted = excerpt(message, kMaxQuoted);
    const std::string persona = persona_line(request.system_instruction);

    std::string text = "[offline companion] ";
    if (quoted.empty()) {
        text += "Hello! I'm here and listening.";
    } else {
        text += "I hear you: \"" + quoted + "\".";
    }
    text += ' ';
    text += kFollowUps[fnv1a(quoted) % kFollowUps.size()];
    if (!persona.empty()) {
        text += " (Speaking as: " + persona + ")";
    }
    text += " The model is offline, so this is a local reply.";
    return text;
}

Completion OfflineProvider::make_completion(const CompletionRequest& request) const {
    Completion c;
    c.text = reply_text(request);
    c.finish_reason = "stop";
    c.model = settings_.model;
    int prompt = count_words(request.system_instruction);
    for (const auto& turn : request.contents) {
        prompt += count_words(turn.text);
    }
    // Words stand in for tokens: there is no tokenizer offline.
    c.usage.prompt_tokens = prompt;
    c.usage.completion_tokens = count_words(c.text);
    c.usage.total_tokens = c.usage.prompt_tokens + c.usage.completion_tokens;
    return c;
}

Task<LlmResult<Completion>> OfflineProvider::complete(const CompletionRequest& request) {
    // A named local: GCC 12 miscompiles a member call on a co_await expression.
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
        co_return cancelled_error();
    }
    const bool waited = co_await wait_latency(settings_.latency);
    if (!waited) {
        co_return cancelled_error();
    }
    co_return make_completion(request);
}

Task<LlmResult<Completion>> OfflineProvider::stream(const CompletionRequest& request,
                                                    DeltaSink on_delta) {
    // A named local: GCC 12 miscompiles a member call on a co_await expression.
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
        co_return cancelled_error();
    }
    const bool waited = co_await wait_latency(settings_.latency);
    if (!waited) {
        co_return cancelled_error();
    }
    Completion completion = make_completion(request);
    for (std::string_view word : split_words(completion.text)) {
        if (state.cancelled() != asio::cancellation_type::none) {
            co_return cancelled_error();
        }
        co_await on_delta(word);
    }
    co_return completion;
}

}  // namespace confidant::llm
