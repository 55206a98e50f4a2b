#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llm/provider.hpp"

namespace confidant::test_support {

/// A model provider for domain tests: answers "re: <last user text>", counts calls, remembers
/// the last request, fails while `fail` is set, and holds every answer while `hold()` is in
/// effect (until `release()`), so a test can look at a turn that is still running. Calls and
/// release() must happen on the io_context's one thread.
class ScriptedProvider final : public llm::Provider {
  public:
    std::string_view name() const override { return "scripted"; }
    std::string model() const override { return "scripted-1"; }

    Task<llm::LlmResult<llm::Completion>> complete(const llm::CompletionRequest& request) override {
        ++calls;
        last_request = request;
        if (held_) {
            auto timer = std::make_shared<boost::asio::steady_timer>(
                co_await boost::asio::this_coro::executor, std::chrono::hours(1));
            waiting_.push_back(timer);
            co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        }
        if (fail) {
            llm::ProviderError e;
            e.kind = llm::FailureKind::unavailable;
            e.http_status = 503;
            e.message = "scripted failure";
            co_return e;
        }
        llm::Completion c;
        c.text = "re: " + request.contents.back().text;
        c.finish_reason = "STOP";
        c.model = model();
        co_return c;
    }

    Task<llm::LlmResult<llm::Completion>> stream(const llm::CompletionRequest& request,
                                                 llm::DeltaSink on_delta) override {
        auto r = co_await complete(request);
        if (r) {
            co_await on_delta(r->text);
        }
        co_return r;
    }

    void hold() { held_ = true; }
    void release() {
        held_ = false;
        for (auto& t : waiting_) {
            t->cancel();
        }
        waiting_.clear();
    }

    int calls = 0;
    bool fail = false;
    std::optional<llm::CompletionRequest> last_request;

  private:
    bool held_ = false;
    std::vector<std::shared_ptr<boost::asio::steady_timer>> waiting_;
};

}  // namespace confidant::test_support
