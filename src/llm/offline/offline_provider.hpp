#pragma once

#include <string>
#include <string_view>

#include "llm/provider.hpp"
#include "llm/settings.hpp"

namespace confidant::llm {

/// A deterministic local responder, so the server works with no key and no network. The reply
/// is derived from the last user turn and the persona (`system_instruction`) and says plainly
/// that it comes from the offline provider: `[offline companion] I hear you: "<msg>". ...`.
/// The same request always gets the same reply.
///
/// `stream()` sends the reply word by word (each delta is a word with its following spaces, so
/// the deltas join to exactly the text of `complete()`). `latency` is awaited before the reply
/// or the first delta. Cancellation: returns `cancelled` at the next wait or delta. Thread-safe
/// (stateless).
class OfflineProvider final : public Provider {
  public:
    explicit OfflineProvider(OfflineSettings settings = {});

    std::string_view name() const override { return "offline"; }
    std::string model() const override { return settings_.model; }
    Task<LlmResult<Completion>> complete(const CompletionRequest& request) override;
    Task<LlmResult<Completion>> stream(const CompletionRequest& request,
                                       DeltaSink on_delta) override;

    /// The reply text for `request` (what complete() returns), without any waiting.
    static std::string reply_text(const CompletionRequest& request);

  private:
    Completion make_completion(const CompletionRequest& request) const;

    OfflineSettings settings_;
};

}  // namespace confidant::llm
