#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace confidant::test {

struct PgServerOptions {
    /// Extra server settings, each "name=value" (passed as `-c name=value`).
    std::vector<std::string> settings;
    /// pg_hba.conf lines placed before the default ones (first match wins); the default lets
    /// every user in without a password over loopback and the Unix socket.
    std::vector<std::string> hba_lines;
};

/// A throw-away PostgreSQL 15 cluster for tests: `initdb` into a temporary directory, the
/// postmaster on a free loopback port (`listen_addresses=127.0.0.1`, its Unix socket inside
/// the directory), trust authentication, superuser `postgres`. When the test runs as root the
/// cluster runs as Debian's `postgres` system user (initdb and postgres refuse root).
///
/// The postmaster is our child: stopped by its pid (SIGTERM smart, SIGINT fast, SIGQUIT
/// immediate, as `pg_ctl stop -m` sends), in stop() and in the destructor, which also removes
/// the directory. stop() then start() reuse the same port and data (outage tests; after an
/// immediate stop the server runs crash recovery). A missing installation is an error with
/// the fix in its message, never a skip.
///
/// Blocking; call from the test's own thread (one that outlives the server: the child gets
/// SIGQUIT if that thread's process dies).
class PgServer {
  public:
    enum class Mode { smart, fast, immediate };

    explicit PgServer(PgServerOptions options = {})
        : options_(std::move(options)), port_(free_port()) {
        const auto bin = bindir();
        for (const char* tool : {"initdb", "postgres", "psql"}) {
            if (!std::filesystem::exists(bin / tool)) {
                throw std::runtime_error(
                    std::string("PostgreSQL server binaries not found (no ") +
                    (bin / tool).string() +
                    "): install them with `apt-get install postgresql` (Debian 12: PostgreSQL 15)"
                    " or set PG_BINDIR");
            }
        }
        char tmpl[] = "/tmp/confidant-pg-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = tmpl;
        user_ = run_as();
        if (user_) {
            if (::chown(dir_.c_str(), user_->uid, user_->gid) != 0) {
                throw std::runtime_error("chown " + dir_.string() + " failed");
            }
        }
        init_cluster();
        start();
    }

    ~PgServer() {
        try {
            stop(Mode::fast);
        } catch (...) {
            // A destructor must not throw; stop() already fell back to SIGKILL.
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    PgServer(const PgServer&) = delete;
    PgServer& operator=(const PgServer&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    const std::filesystem::path& dir() const noexcept { return dir_; }
    bool running() const noexcept { return pid_ > 0; }
    pid_t pid() const noexcept { return pid_; }

    /// `postgresql://postgres@127.0.0.1:PORT/DB`
    std::string url(const std::string& db = "postgres") const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
    }
    /// The same in libpq's keyword form.
    std::string keywords(const std::string& db = "postgres") const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + db + " user=postgres";
    }

    /// Starts the postmaster and waits (up to 60 s) until it accepts connections.
    void start() {
        if (pid_ > 0) {
            return;
        }
        const auto bin = bindir();
        std::vector<std::string> args = {(bin / "postgres").string(),
                                         "-D",
                                         data_dir().string(),
                                         "-p",
                                         std::to_string(port_),
                                         "-c",
                                         "listen_addresses=127.0.0.1",
                                         "-c",
                                         "unix_socket_directories=" + dir_.string(),
                                         "-c",
                                         "shared_buffers=32MB",
                                         "-c",
                                         "max_connections=200",
                                         "-c",
                                         "huge_pages=off",
                                         "-c",
                                         "timezone=UTC",
                                         "-c",
                                         "log_min_messages=warning",
                                         "-c",
                                         "log_min_error_statement=panic"};
        for (const auto& s : options_.settings) {
            args.push_back("-c");
            args.push_back(s);
        }
        pid_ = spawn(args, log_path(), /*pdeathsig=*/true);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
            if (accepts_connections()) {
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("postgres exited at start (port " + std::to_string(port_) +
                                         "); log: " + log_tail());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        stop(Mode::immediate);
        throw std::runtime_error("postgres did not accept connections within 60 s; log: " +
                                 log_tail());
    }

    /// Signals the postmaster as `pg_ctl stop -m <mode>` would and waits for it to exit
    /// (SIGKILL after 30 s). Idempotent.
    void stop(Mode mode = Mode::fast) {
        if (pid_ <= 0) {
            return;
        }
        const int sig = mode == Mode::smart ? SIGTERM : mode == Mode::fast ? SIGINT : SIGQUIT;
        ::kill(pid_, sig);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        pid_ = -1;
    }

    /// stop(mode) then start() on the same port and data directory.
    void restart(Mode mode = Mode::immediate) {
        stop(mode);
        start();
    }

    /// Runs `sql` with psql (-X -A -t -q, ON_ERROR_STOP) as `postgres` on `db` and returns its
    /// output without the trailing newline. Throws std::runtime_error with psql's messages when
    /// it fails.
    std::string psql(const std::string& sql, const std::string& db = "postgres") const {
        const auto out_path = dir_ / ("psql-" + std::to_string(++psql_runs_) + ".out");
        const auto err_path = dir_ / ("psql-" + std::to_string(psql_runs_) + ".err");
        std::vector<std::string> args = {(bindir() / "psql").string(),
                                         "-X",
                                         "-A",
                                         "-t",
                                         "-q",
                                         "-v",
                                         "ON_ERROR_STOP=1",
                                         "-h",
                                         "127.0.0.1",
                                         "-p",
                                         std::to_string(port_),
                                         "-U",
                                         "postgres",
                                         "-d",
                                         db,
                                         "-c",
                                         sql};
        const int status = run(args, out_path, err_path, /*as_server_user=*/false);
        std::string out = read_file(out_path);
        const std::string err = read_file(err_path);
        std::filesystem::remove(out_path);
        std::filesystem::remove(err_path);
        if (status != 0) {
            throw std::runtime_error("psql failed (" + sql.substr(0, 200) + "): " + err);
        }
        while (!out.empty() && out.back() == '\n') {
            out.pop_back();
        }
        return out;
    }

    void create_database(const std::string& name) { psql("CREATE DATABASE " + name); }

    /// The end of the server's log (for failure messages).
    std::string log_tail(std::size_t bytes = 4000) const {
        auto s = read_file(log_path());
        return s.size() > bytes ? s.substr(s.size() - bytes) : s;
    }

    /// Where the server binaries are: $PG_BINDIR, else `pg_config --bindir`, else
    /// /usr/lib/postgresql/15/bin.
    static std::filesystem::path bindir() {
        if (const char* env = std::getenv("PG_BINDIR"); env != nullptr && *env != '\0') {
            return env;
        }
        if (FILE* p = ::popen("pg_config --bindir 2>/dev/null", "r"); p != nullptr) {
            char buf[512] = {};
            std::string out;
            while (std::fgets(buf, sizeof buf, p) != nullptr) {
                out += buf;
            }
            ::pclose(p);
            while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
                out.pop_back();
            }
            if (!out.empty() && std::filesystem::exists(std::filesystem::path(out) / "initdb")) {
                return out;
            }
        }
        return "/usr/lib/postgresql/15/bin";
    }

    /// A free loopback TCP port (nothing listens on it once this returns).
    static std::uint16_t free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = 0;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            if (fd >= 0) {
                ::close(fd);
            }
            throw std::runtime_error("no free loopback port");
        }
        ::close(fd);
        return ntohs(addr.sin_port);
    }

  private:
    struct User {
        uid_t uid;
        gid_t gid;
    };

    static std::optional<User> run_as() {
        if (::geteuid() != 0) {
            return std::nullopt;
        }
        const passwd* pw = ::getpwnam("postgres");
        if (pw == nullptr) {
            throw std::runtime_error(
                "running as root, and PostgreSQL refuses root: no `postgres` system user to run "
                "it as (`apt-get install postgresql` creates it), or run the tests as another "
                "user");
        }
        return User{pw->pw_uid, pw->pw_gid};
    }

    std::filesystem::path data_dir() const { return dir_ / "data"; }
    std::filesystem::path log_path() const { return dir_ / "postgres.log"; }

    void init_cluster() {
        std::vector<std::string> args = {(bindir() / "initdb").string(),
                                         "-D",
                                         data_dir().string(),
                                         "-U",
                                         "postgres",
                                         "--auth=trust",
                                         "--encoding=UTF8",
                                         "--locale=C",
                                         "--no-sync",
                                         "--no-instructions"};
        const auto log = dir_ / "initdb.log";
        const int status = run(args, log, log, /*as_server_user=*/true);
        if (status != 0) {
            throw std::runtime_error("initdb failed: " + read_file(log));
        }
        std::string hba;
        for (const auto& line : options_.hba_lines) {
            hba += line + "\n";
        }
        hba +=
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
            "host all all ::1/128 trust\n";
        std::ofstream(data_dir() / "pg_hba.conf", std::ios::trunc) << hba;
        if (user_) {
            ::chown((data_dir() / "pg_hba.conf").c_str(), user_->uid, user_->gid);
        }
    }

    /// Forks and execs `args`; stdout and stderr go to `log` (appended). As the server user
    /// when we are root.
    pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log,
                bool pdeathsig) const {
        return spawn_with(args, log, log, true, pdeathsig);
    }

    int run(const std::vector<std::string>& args, const std::filesystem::path& out,
            const std::filesystem::path& err, bool as_server_user) const {
        const pid_t pid = spawn_with(args, out, err, as_server_user, false);
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }

    pid_t spawn_with(const std::vector<std::string>& args, const std::filesystem::path& out,
                     const std::filesystem::path& err, bool as_server_user, bool pdeathsig) const {
        const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        const int err_fd =
            out == err ? out_fd
                       : ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out_fd < 0 || err_fd < 0) {
            throw std::runtime_error("cannot open " + out.string());
        }
        std::vector<char*> argv;
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        const bool drop = as_server_user && user_.has_value();
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid == 0) {
            // Only async-signal-safe calls between fork and exec.
            const int devnull = ::open("/dev/null", O_RDONLY);
            if (devnull >= 0) {
                ::dup2(devnull, 0);
            }
            ::dup2(out_fd, 1);
            ::dup2(err_fd, 2);
            if (drop) {
                if (::setgroups(0, nullptr) != 0 || ::setgid(user_->gid) != 0 ||
                    ::setuid(user_->uid) != 0) {
                    ::_exit(126);
                }
            }
            if (::chdir(dir_.c_str()) != 0) {
                ::_exit(126);
            }
            if (pdeathsig) {
                // If the test process dies, take the cluster down with it (set after setuid,
                // which clears it).
                ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
                if (::getppid() != parent) {
                    ::_exit(1);
                }
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(out_fd);
        if (err_fd != out_fd) {
            ::close(err_fd);
        }
        return pid;
    }

    bool accepts_connections() const {
        const std::string conninfo = keywords() + " connect_timeout=2";
        return PQping(conninfo.c_str()) == PQPING_OK;
    }

    static std::string read_file(const std::filesystem::path& p) {
        std::ifstream f(p, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }

    PgServerOptions options_;
    std::uint16_t port_;
    std::filesystem::path dir_;
    std::optional<User> user_;
    pid_t pid_ = -1;
    mutable int psql_runs_ = 0;
};

}  // namespace confidant::test
