#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/settings.hpp"

namespace confidant::app {

/// Builds every backend from the settings and hands them to the domain and the API. The only
/// place that knows which backends run.
class App {
  public:
    explicit App(const config::Settings& settings);
    ~App();

    /// Serves until SIGTERM/SIGINT, then drains. Returns the process exit code.
    int serve();
    /// Applies migrations and exits.
    int migrate();
    /// Creates a user (admin with `admin`); returns 0, or 1 when the name is taken.
    int create_user(const std::string& username, const std::string& password, bool admin);
    /// Runs the job workers without HTTP until SIGTERM/SIGINT, then drains. Returns the exit code.
    int work();
    /// Enqueues `count` jobs of `type` with `payload` (JSON); prints how many and the id range.
    int enqueue_jobs(const std::string& type, const std::string& payload, long count,
                     int max_attempts, std::optional<long long> user_id);

    struct Parts;

  private:
    std::unique_ptr<Parts> parts_;
};

}  // namespace confidant::app
