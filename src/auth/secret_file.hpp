#pragma once

#include <filesystem>
#include <string>

namespace confidant::auth {

/// The signing secret kept in `path`: read when the file exists, otherwise made once (random,
/// 32 bytes, base64url) and written with mode 0600, so restarts keep sessions. Two processes
/// starting together agree on one secret (the file is published with link(), which never
/// overwrites). The parent directory is created when missing. A file that is readable by
/// others is tightened to 0600; one holding fewer than 32 bytes is refused. Blocking (start-up
/// only); throws std::runtime_error naming the path on failure.
std::string load_or_create_secret(const std::filesystem::path& path);

}  // namespace confidant::auth
