#pragma once

#include <chrono>

#include "core/task.hpp"

namespace confidant::scheduler {

/// Leadership among instances: only the holder of the lease polls for due ticks (the claims
/// then make each tick run once even if two instances briefly both believe they lead).
///
/// The scheduler calls acquire_or_renew() every period()/3 while it leads and every
/// period()/10 (at most every second) while it does not; a holder that stops renewing (killed,
/// paused, partitioned) loses the lease when it expires, and another instance takes it at its
/// next attempt. The scheduler also counts a lease as lost locally once 90 % of period() has
/// passed since the start of the last successful call, so a paused leader stops claiming
/// before asking anyone.
///
/// Backends: local (one process: always the leader), in-memory (tests: several schedulers in
/// one process), Redis (SET NX PX with a token, compare-and-pexpire / compare-and-delete in
/// Lua), later PostgreSQL. Thread-safe; calls come from the scheduler's strand.
class LeaderLease {
  public:
    virtual ~LeaderLease() = default;

    /// Takes the lease if it is free or renews it if this holder has it, for period() from
    /// (at least) the start of the call. True: this instance leads. False: another holder has
    /// it, or the backend cannot be reached (an outage means "not the leader"; no exception
    /// for expected failures). Cancellation: abandoning the call leaves the lease as the
    /// backend last saw it.
    virtual Task<bool> acquire_or_renew() = 0;

    /// Gives the lease up if this holder has it (never touches another holder's lease), so a
    /// successor need not wait for expiry. Never throws for backend failures.
    virtual Task<void> release() = 0;

    /// How long a lease lasts without renewal (SCHEDULER_LEASE_SECONDS).
    virtual std::chrono::milliseconds period() const noexcept = 0;
};

}  // namespace confidant::scheduler
