#include "auth/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "auth/jwt.hpp"

namespace confidant::auth {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
    throw std::runtime_error("secret file " + path.string() + ": " + what);
}

std::string read_secret(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        fail(path, std::strerror(errno));
    }
    if ((st.st_mode & 077) != 0 && ::chmod(path.c_str(), 0600) != 0) {
        fail(path, std::string("cannot restrict its mode to 0600: ") + std::strerror(errno));
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string secret = ss.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
        secret.pop_back();
    }
    if (secret.size() < 32) {
        fail(path, "holds fewer than 32 bytes");
    }
    return secret;
}

}  // namespace

std::string load_or_create_secret(const std::filesystem::path& path) {
    if (std::filesystem::exists(path)) {
        return read_secret(path);
    }
    if (path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec) {
            fail(path, "cannot create its directory: " + ec.message());
        }
    }
    const std::string secret = random_secret();
    const std::filesystem::path temp =
        path.string() + ".tmp." + std::to_string(static_cast<long>(::getpid()));
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(path, std::string("cannot create it: ") + std::strerror(errno));
    }
    const std::string line = secret + "\n";
    const bool written = ::write(fd, line.data(), line.size()) ==
                             static_cast<ssize_t>(line.size()) &&
                         ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
        ::unlink(temp.c_str());
        fail(path, "cannot write it");
    }
    // link() publishes the whole file or nothing, and never replaces one another process
    // published first: then that one is the secret.
    const int linked = ::link(temp.c_str(), path.c_str());
    const int link_errno = errno;
    ::unlink(temp.c_str());
    if (linked != 0) {
        if (link_errno == EEXIST) {
            return read_secret(path);
        }
        fail(path, std::string("cannot publish it: ") + std::strerror(link_errno));
    }
    return secret;
}

}  // namespace confidant::auth
