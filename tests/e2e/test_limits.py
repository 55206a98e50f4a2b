"""Resource limits against abuse: slow bodies, MAX_CONNECTIONS, running out of descriptors."""
import os
import resource
import socket
import subprocess
import sys
import shutil
import tempfile
import time
import unittest

import harness
from harness import Client, Confidant


def proc_status(pid, field):
    """A /proc/<pid>/status field in bytes (VmRSS, VmData)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def metric(client, name):
    r = client.get("/metrics")
    assert r.status == 200, r.status
    for line in r.body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def timed_healthz(port):
    """GET /healthz on a new connection; returns (status, seconds)."""
    t0 = time.monotonic()
    c = Client(port, timeout=5)
    try:
        r = c.get("/healthz")
    finally:
        c.close()
    return r.status, time.monotonic() - t0


def refused(port):
    """True when a new connection is closed without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(4096) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True


class SlowBodies(unittest.TestCase):
    """200 sockets each announce a 1 MiB body and send one byte a second: memory follows what
    arrived (not what was announced), and the server keeps answering at once."""

    def test_trickled_bodies_hold_little_memory(self):
        server = Confidant({"HTTP_THREADS": "2", "BODY_TIMEOUT_SECONDS": "60"})
        socks = []
        try:
            pid = server.proc.pid
            for _ in range(20):  # warm up: allocator pools, the first request's lazy set-up
                self.assertEqual(timed_healthz(server.port)[0], 200)
            rss0, data0 = proc_status(pid, "VmRSS"), proc_status(pid, "VmData")
            head = (b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1048576\r\n\r\n")
            for _ in range(200):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall(head)
                socks.append(s)
            latencies = []
            for _ in range(6):
                t0 = time.monotonic()
                for s in socks:
                    s.sendall(b"x")
                status, seconds = timed_healthz(server.port)
                self.assertEqual(status, 200)
                latencies.append(seconds)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
            rss1, data1 = proc_status(pid, "VmRSS"), proc_status(pid, "VmData")
            mib = 1 << 20
            print(f"\n200 trickled 1 MiB bodies: RSS +{(rss1 - rss0) / mib:.1f} MiB, VmData "
                  f"+{(data1 - data0) / mib:.1f} MiB, /healthz max {max(latencies) * 1000:.1f} ms",
                  file=sys.stderr)
            self.assertLess(rss1 - rss0, 50 * mib, f"RSS grew {(rss1 - rss0) / mib:.1f} MiB")
            # Reserved but untouched memory is not resident; the heap it commits shows here
            # (Beast's string_body reserved the whole announced length: 200 MiB).
            self.assertLess(data1 - data0, 50 * mib, f"VmData grew {(data1 - data0) / mib:.1f} MiB")
            self.assertLess(max(latencies), 0.1, latencies)
            # Every trickling request is still being read (none was dropped).
            self.assertEqual(metric(Client(server.port), "http_open_connections"), 201)
        finally:
            for s in socks:
                s.close()
            self.assertEqual(server.close(), 0)


class ConnectionCap(unittest.TestCase):
    def test_connections_past_the_cap_are_refused_and_counted(self):
        server = Confidant({"MAX_CONNECTIONS": "20", "HTTP_THREADS": "2"})
        idle = []
        try:
            keep = Client(server.port)
            self.addCleanup(keep.close)
            self.assertEqual(keep.get("/healthz").status, 200)
            for _ in range(19):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            deadline = time.monotonic() + 5
            while metric(keep, "http_open_connections") < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertEqual(metric(keep, "http_open_connections"), 20)
            for _ in range(5):
                self.assertTrue(refused(server.port), "a connection past MAX_CONNECTIONS was served")
            # The open ones go on: the kept-alive connection still answers, and at once.
            t0 = time.monotonic()
            self.assertEqual(keep.get("/healthz").status, 200)
            self.assertLess(time.monotonic() - t0, 0.1)
            self.assertEqual(metric(keep, "http_connections_refused_total"), 5)
            self.assertEqual(metric(keep, "http_max_connections"), 20)
            # Room again once some close.
            for s in idle[:5]:
                s.close()
            deadline = time.monotonic() + 5
            while metric(keep, "http_open_connections") > 15 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertEqual(timed_healthz(server.port)[0], 200)
        finally:
            for s in idle:
                s.close()
            self.assertEqual(server.close(), 0)


def start_with_file_limit(limit, env):
    """Confidant `serve` under RLIMIT_NOFILE = limit (soft and hard: it cannot raise it)."""
    work = tempfile.mkdtemp(prefix="confidant-e2e-")
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1", "PORT": "0",
            "DATABASE_URL": f"sqlite://{work}/confidant.db", "JWT_SECRET": harness.JWT_SECRET,
            "PASSWORD_HASH_PROFILE": "fast", "LOG_LEVEL": "warn", "LLM_PROVIDER": "offline", **env}
    proc = subprocess.Popen([harness.CONFIDANT_BIN, "serve"], env=full, cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
    server = harness.Process(proc, harness._read_listening_line(proc, "confidant"), "confidant")
    return server, work


class OutOfDescriptors(unittest.TestCase):
    def test_accept_loop_survives_emfile(self):
        # MAX_CONNECTIONS far above what the limit allows, so that accept() itself fails.
        server, work = start_with_file_limit(96, {"MAX_CONNECTIONS": "100000", "HTTP_THREADS": "1",
                                                  "SQLITE_THREADS": "2"})
        socks = []
        try:
            keep = Client(server.port)
            self.addCleanup(keep.close)
            self.assertEqual(keep.get("/healthz").status, 200)
            used = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
            self.assertLess(used, 80)
            for _ in range(150):  # far more than the descriptors left
                socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            deadline = time.monotonic() + 5
            while "accept failed" not in server.stderr() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn("accept failed", server.stderr())
            # Out of descriptors, the open connection still answers.
            self.assertEqual(keep.get("/healthz").status, 200)
            for s in socks:
                s.close()
            socks.clear()
            # Once descriptors free up, new connections are served again (the loop went on).
            deadline = time.monotonic() + 10
            while True:
                try:
                    status, _ = timed_healthz(server.port)
                    if status == 200:
                        break
                except OSError:
                    pass
                self.assertLess(time.monotonic(), deadline, "no longer accepting")
                time.sleep(0.1)
            for _ in range(20):
                self.assertEqual(timed_healthz(server.port)[0], 200)
            self.assertGreater(metric(keep, "http_accept_errors_total"), 0)
        finally:
            for s in socks:
                s.close()
            code = server.stop()
            shutil.rmtree(work, ignore_errors=True)
            self.assertEqual(code, 0, server.stderr()[-2000:])


if __name__ == "__main__":
    unittest.main()
