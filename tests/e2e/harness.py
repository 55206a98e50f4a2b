"""Shared set-up for the end-to-end suites: the real binaries on free loopback ports.

Every process started here is stopped by pid (never by name). Paths to the binaries come from
ctest's environment (CONFIDANT_BIN, EMULATOR_BIN), set in tests/e2e/CMakeLists.txt.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

CONFIDANT_BIN = os.environ.get("CONFIDANT_BIN", os.path.join(os.path.dirname(__file__), "../../build/confidant"))
EMULATOR_BIN = os.environ.get(
    "EMULATOR_BIN", os.path.join(os.path.dirname(__file__), "../../build/gemini-emulator"))
JWT_SECRET = "e2e-secret-0123456789abcdef-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_listening_line(proc, what, timeout=30.0):
    """Reads stdout until `listening on HOST:PORT`; returns the port."""
    result = {}

    def reader():
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("listening on "):
                result["port"] = int(line.rsplit(":", 1)[1])
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    if "port" not in result:
        proc.kill()
        raise RuntimeError(f"{what} did not start; stderr: {proc.stderr.read().decode(errors='replace')[-3000:]}")
    # Keep draining stdout so the child never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return result["port"]


class Process:
    def __init__(self, proc, port, what):
        self.proc, self.port, self.what = proc, port, what
        self.stderr_lines = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self):
        for raw in self.proc.stderr:
            self.stderr_lines.append(raw.decode(errors="replace"))

    def stderr(self):
        return "".join(self.stderr_lines)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Confidant(Process):
    """Confidant `serve` with a temporary SQLite database."""

    def __init__(self, env=None, db_dir=None):
        self.own_dir = db_dir is None
        self.dir = db_dir or tempfile.mkdtemp(prefix="confidant-e2e-")
        full = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOST": "127.0.0.1",
            "PORT": "0",
            "DATABASE_URL": f"sqlite://{self.dir}/confidant.db",
            "JWT_SECRET": JWT_SECRET,
            "PASSWORD_HASH_PROFILE": "fast",
            "LOG_LEVEL": "warn",
            "HTTP_THREADS": "2",
            "LLM_PROVIDER": "offline",
            # The suites register many users and try wrong passwords from one address; the
            # abuse limits have suites of their own (test_accounts.py) that turn them on.
            "REGISTRATIONS_PER_HOUR": "0",
            "LOGIN_FAILURES_PER_WINDOW": "0",
        }
        full.update(env or {})
        full = {k: v for k, v in full.items() if v is not None}
        proc = subprocess.Popen([CONFIDANT_BIN, "serve"], env=full, cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        port = _read_listening_line(proc, "confidant")
        super().__init__(proc, port, "confidant")

    def close(self):
        code = self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return code


class Emulator(Process):
    def __init__(self, *flags):
        proc = subprocess.Popen([EMULATOR_BIN, "--port", "0", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        super().__init__(proc, _read_listening_line(proc, "gemini-emulator"), "gemini-emulator")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stats(self):
        return Client(self.port).get("/stats").json()["requests"]

    def control(self, **settings):
        return Client(self.port).post("/control", settings)


class RedisServer:
    """A real redis-server on a free loopback port; stop() or kill() and start() keep the port
    and the data directory. With appendonly=True every acknowledged write is fsynced to the
    append-only file first (`--appendfsync always`), so a restart after kill() (SIGKILL) comes
    back with the data, as a production Redis does."""

    def __init__(self, appendonly=False):
        self.dir = tempfile.mkdtemp(prefix="confidant-redis-")
        self.port = free_port()
        self.appendonly = appendonly
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
             "--dir", self.dir, "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):  # not -LOADING: the data is back
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self):
        """SIGKILL by pid: no shutdown save, every connection reset at once."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def command(self, *args):
        """One command over a raw socket (RESP); returns the first reply line or bulk."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(str(a).encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload.encode())
            data = s.recv(65536)
        return data.decode(errors="replace")

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def error_code(self):
        return self.json()["error"]["code"]


class Client:
    """A plain HTTP/1.1 client (keep-alive on one connection).

    A request is never re-sent blindly: only an idempotent one (GET, HEAD, OPTIONS, DELETE, PUT)
    is retried, once, on a new connection, and only when the kept-alive connection it went out
    on was closed before any byte of the answer (the server may close an idle connection at any
    moment). Anything else — a POST or PATCH, a fresh connection, an answer cut short — raises,
    so a premature close by the server is seen by the test."""

    IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})

    def __init__(self, port, token=None, timeout=30):
        self.port, self.token, self.timeout = port, token, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self._answered_sock = None  # the socket the last answer came on (kept alive)

    def request(self, method, path, body=None, headers=None, raw=None, token=None):
        h = {}
        tok = token if token is not None else self.token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        reused = self.conn.sock is not None and self.conn.sock is self._answered_sock
        try:
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()  # raises before any byte of the status line was read
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._reconnect()
            if not (reused and method.upper() in self.IDEMPOTENT):
                raise
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
        try:
            response = Response(r.status, r.getheaders(), r.read())
        except Exception:
            self._reconnect()
            raise
        self._answered_sock = self.conn.sock  # None when the answer closed the connection
        return response

    def _reconnect(self):
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self._answered_sock = None

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        self.conn.close()


def raw_exchange(port, data, timeout=10):
    """Sends raw bytes and returns everything the server writes until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        except socket.timeout:
            pass
    return b"".join(chunks)


def parse_raw_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode(errors="replace"), body


_counter = [0]


def unique_name(prefix="user"):
    _counter[0] += 1
    return f"{prefix}{os.getpid() % 10000}_{_counter[0]}_{int(time.time() * 1000) % 100000}"


def register(client, username=None, password="correct-horse-1"):
    username = username or unique_name()
    r = client.post("/v1/auth/register", {"username": username, "password": password})
    assert r.status == 201, (r.status, r.body)
    return r.json()["access_token"], r.json()["user"]


def sse_events(body):
    """Parses a text/event-stream body into [(event, data)]."""
    events = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" ") if line.startswith("data: ") else line[5:])
        events.append((name, "\n".join(data)))
    return events


class ServerTestCase(unittest.TestCase):
    """One Confidant per test class; subclasses set `env`."""
    env = {}

    @classmethod
    def setUpClass(cls):
        cls.server = Confidant(cls.env)
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        code = cls.server.close()
        assert code == 0, f"confidant exited with {code}: {cls.server.stderr()[-2000:]}"

    def client(self, token=None):
        c = Client(self.port, token)
        self.addCleanup(c.close)
        return c
