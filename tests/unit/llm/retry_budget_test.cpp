#include "llm/resilience/retry_budget.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "core/clock.hpp"

namespace confidant::llm {
namespace {

using namespace std::chrono_literals;

TEST(RetryBudget, FirstAttemptsDepositTheRatio) {
    ManualClock clock;
    RetryBudget budget(0.5, 0.0, clock);
    EXPECT_FALSE(budget.try_spend());
    budget.deposit();
    EXPECT_FALSE(budget.try_spend());
    budget.deposit();
    EXPECT_TRUE(budget.try_spend());
    EXPECT_FALSE(budget.try_spend());
}

TEST(RetryBudget, FiveDepositsOfATwentiethBuyOneRetry) {
    ManualClock clock;
    RetryBudget budget(0.2, 0.0, clock);
    for (int i = 0; i < 5; ++i) {
        budget.deposit();
    }
    EXPECT_TRUE(budget.try_spend());
    EXPECT_FALSE(budget.try_spend());
}

TEST(RetryBudget, RefillsMinimumPerSecond) {
    ManualClock clock;
    RetryBudget budget(0.0, 2.0, clock);
    EXPECT_TRUE(budget.try_spend());
    EXPECT_TRUE(budget.try_spend());
    EXPECT_FALSE(budget.try_spend());
    clock.advance(500ms);
    EXPECT_TRUE(budget.try_spend());
    EXPECT_FALSE(budget.try_spend());
}

TEST(RetryBudget, BalanceIsCapped) {
    ManualClock clock;
    RetryBudget budget(1.0, 0.0, clock);
    for (int i = 0; i < 100; ++i) {
        budget.deposit();
    }
    EXPECT_DOUBLE_EQ(budget.balance(), 10.0);
    RetryBudget refilled(0.0, 3.0, clock);
    clock.advance(1h);
    EXPECT_DOUBLE_EQ(refilled.balance(), 30.0);
}

}  // namespace
}  // namespace confidant::llm
