"""A throw-away PostgreSQL 15 cluster for the end-to-end suites.

`initdb` into a temporary directory, the postmaster on a free loopback port
(listen_addresses=127.0.0.1, its Unix socket inside the directory), trust authentication,
superuser `postgres`. When the tests run as root the cluster runs as Debian's `postgres` system
user (initdb and postgres refuse root). The postmaster is our child and is stopped by its pid
(SIGTERM smart, SIGINT fast, SIGQUIT immediate: what `pg_ctl stop -m` sends); close() stops it
and removes the directory. A missing installation raises with the fix in the message: the suites
never skip.

    with PgServer() as pg:
        env = {"DATABASE_URL": pg.url}
        pg.psql("SELECT count(*) FROM users")
        pg.restart("immediate")   # outage: stop -m immediate, start on the same port and data
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bindir():
    """$PG_BINDIR, else `pg_config --bindir`, else Debian 12's /usr/lib/postgresql/15/bin."""
    env = os.environ.get("PG_BINDIR")
    if env:
        return env
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if out and os.path.exists(os.path.join(out, "initdb")):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return "/usr/lib/postgresql/15/bin"


class PgServer:
    """One cluster; `url` is `postgresql://postgres@127.0.0.1:PORT/postgres`."""

    def __init__(self, settings=None, hba_lines=None, start=True):
        """`settings`: extra server settings {"name": "value"}; `hba_lines`: pg_hba.conf lines
        placed before the default trust lines (first match wins)."""
        self.bin = bindir()
        for tool in ("initdb", "postgres", "psql", "pg_isready"):
            if not os.path.exists(os.path.join(self.bin, tool)):
                raise RuntimeError(
                    f"PostgreSQL server binaries not found (no {os.path.join(self.bin, tool)}): install them "
                    "with `apt-get install postgresql` (Debian 12: PostgreSQL 15) or set PG_BINDIR")
        self.settings = dict(settings or {})
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="confidant-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.proc = None
        self._user = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, and PostgreSQL refuses root: no `postgres` system user to run "
                                   "it as (`apt-get install postgresql` creates it), or run the tests as another user")
            os.chown(self.dir, self._user.pw_uid, self._user.pw_gid)
        self._initdb(hba_lines or [])
        if start:
            self.start()

    @property
    def url(self):
        return self.url_for("postgres")

    def url_for(self, db):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    @property
    def keywords(self):
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def _as_server_user(self):
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _initdb(self, hba_lines):
        r = subprocess.run(
            [os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            cwd=self.dir, capture_output=True, text=True, **self._as_server_user())
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stdout}{r.stderr}")
        hba = "".join(line + "\n" for line in hba_lines)
        hba += "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
        path = os.path.join(self.data, "pg_hba.conf")
        with open(path, "w") as f:
            f.write(hba)
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=60):
        """Starts the postmaster on `port` and waits until it accepts connections."""
        if self.running():
            return
        args = [os.path.join(self.bin, "postgres"), "-D", self.data, "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                "-c", "shared_buffers=32MB", "-c", "max_connections=200", "-c", "huge_pages=off",
                "-c", "timezone=UTC", "-c", "log_min_messages=warning"]
        for name, value in self.settings.items():
            args += ["-c", f"{name}={value}"]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         **self._as_server_user())
        finally:
            log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"postgres exited at start (port {self.port}); log: {self.log_tail()}")
            r = subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                "-d", "postgres", "-U", "postgres", "-t", "2"])
            if r.returncode == 0:
                return
            time.sleep(0.02)
        self.stop("immediate")
        raise RuntimeError(f"postgres did not accept connections within {timeout} s; log: {self.log_tail()}")

    def stop(self, mode="fast", timeout=30):
        """Signals the postmaster as `pg_ctl stop -m MODE` would and waits for it (SIGKILL after
        `timeout`). Idempotent."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(_SIGNALS[mode])
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, mode="immediate"):
        """stop(mode) then start() on the same port and data directory (an outage)."""
        self.stop(mode)
        self.start()

    def psql(self, sql, db="postgres"):
        """Runs `sql` with psql (unaligned, tuples only, ON_ERROR_STOP) and returns its output
        without the trailing newline; raises RuntimeError with psql's messages on failure."""
        r = subprocess.run(
            [os.path.join(self.bin, "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
            capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed ({sql[:200]}): {r.stderr.strip()}")
        return r.stdout.rstrip("\n")

    def scalar(self, sql, db="postgres"):
        """The single value `sql` returns, as a string."""
        return self.psql(sql, db)

    def create_database(self, name):
        self.psql(f"CREATE DATABASE {name}")
        return self.url_for(name)

    def log_tail(self, size=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        self.stop("fast")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
