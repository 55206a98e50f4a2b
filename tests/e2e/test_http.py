"""HTTP core: ops endpoints, error shape, limits, timeouts, keep-alive, graceful shutdown."""
import http.client
import json
import os
import signal
import socket
import threading
import time
import unittest

from harness import (Client, Confidant, ServerTestCase, parse_raw_response, raw_exchange, register)

# A well-formed login that fails: 401 unauthorized, whatever path it took through the parser.
WRONG_LOGIN = b'{"username": "nobody-here", "password": "wrong-password"}'


def read_until_closed(sock):
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    return raw


class Ops(ServerTestCase):
    def test_healthz(self):
        r = self.client().get("/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertTrue(r.header("X-Request-Id"))

    def test_request_id_is_echoed(self):
        r = self.client().get("/healthz", headers={"X-Request-Id": "abc-123"})
        self.assertEqual(r.header("X-Request-Id"), "abc-123")

    def test_readyz_checks_database(self):
        r = self.client().get("/readyz")
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(body["status"], "ready")
        self.assertEqual(body["checks"]["database"], "ok")
        for k in ("cache", "queue", "llm"):
            self.assertIn(k, body["checks"])

    def test_metrics_prometheus(self):
        c = self.client()
        c.get("/healthz")
        c.get("/nope")
        r = c.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"))
        text = r.body.decode()
        self.assertIn('http_requests_total{method="GET",route="/healthz",status="200"}', text)
        self.assertIn('http_requests_total{method="GET",route="unmatched",status="404"}', text)
        self.assertIn('http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"}', text)
        self.assertIn("# TYPE http_request_duration_seconds histogram", text)


class NotReady(unittest.TestCase):
    def test_readyz_503_when_database_file_is_gone(self):
        server = Confidant()
        try:
            c = Client(server.port)
            self.assertEqual(c.get("/readyz").status, 200)
            db = f"{server.dir}/confidant.db"
            os.rename(db, db + ".moved")
            r = c.get("/readyz")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"]["code"], "not_ready")
            self.assertEqual(r.json()["checks"]["database"], "unreachable")
            self.assertEqual(c.get("/healthz").status, 200)  # alive, just not ready
            os.rename(db + ".moved", db)
            self.assertEqual(c.get("/readyz").status, 200)
        finally:
            self.assertEqual(server.close(), 0)


class Errors(ServerTestCase):
    env = {"MAX_BODY_BYTES": "1024", "MAX_HEADER_BYTES": "2048"}

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r.body)
        body = r.json()
        self.assertEqual(set(body), {"error"})
        self.assertEqual(body["error"]["code"], code)
        self.assertIsInstance(body["error"]["message"], str)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))

    def test_not_found(self):
        self.assert_error(self.client().get("/v1/nothing-here"), 404, "not_found")

    def test_method_not_allowed(self):
        r = self.client().request("PUT", "/healthz")
        self.assert_error(r, 405, "method_not_allowed")
        self.assertIn("GET", r.header("Allow"))

    def test_unsupported_media_type(self):
        r = self.client().post("/v1/auth/login", raw=b"username=a&password=b",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assert_error(r, 415, "unsupported_media_type")

    def test_malformed_json(self):
        r = self.client().post("/v1/auth/login", raw=b'{"username": "abc", ', headers={"Content-Type": "application/json"})
        self.assert_error(r, 400, "bad_request")

    def test_json_not_an_object(self):
        r = self.client().post("/v1/auth/login", raw=b'[1,2]', headers={"Content-Type": "application/json"})
        self.assert_error(r, 400, "bad_request")

    def test_invalid_utf8(self):
        r = self.client().post("/v1/auth/register", raw=b'{"username": "ab\xff\xfecd", "password": "long-enough-1"}',
                               headers={"Content-Type": "application/json"})
        self.assert_error(r, 400, "bad_request")

    def test_body_exactly_at_limit_is_accepted(self):
        body = '{"username": "nobody-here", "password": "wrong-password", "pad": "'
        body += "x" * (1024 - len(body) - 2) + '"}'
        self.assertEqual(len(body.encode()), 1024)
        r = self.client().post("/v1/auth/login", raw=body.encode(), headers={"Content-Type": "application/json"})
        self.assert_error(r, 401, "unauthorized")

    def test_body_over_limit(self):
        body = b'{"pad": "' + b"x" * 1100 + b'"}'
        r = self.client().post("/v1/auth/login", raw=body, headers={"Content-Type": "application/json"})
        self.assert_error(r, 413, "payload_too_large")

    def test_chunked_body_over_limit(self):
        chunk = b"x" * 600
        req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" +
               b"%x\r\n" % len(chunk) + chunk + b"\r\n" + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
        status, head, body = parse_raw_response(raw_exchange(self.port, req))
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["error"]["code"], "payload_too_large")

    def test_headers_too_large(self):
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n"
        status, head, body = parse_raw_response(raw_exchange(self.port, req))
        self.assertEqual(status, 431)
        self.assertEqual(json.loads(body)["error"]["code"], "headers_too_large")

    def test_bad_framing(self):
        status, head, body = parse_raw_response(raw_exchange(self.port, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n"))
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "bad_request")

    def test_response_head_on_the_wire(self):
        """The head the server formats itself: status line, headers, exact Content-Length."""
        raw = raw_exchange(self.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                      b"X-Request-Id: wire-1\r\n\r\n")
        status, head, body = parse_raw_response(raw)
        lines = head.split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        self.assertEqual(fields["content-type"], "application/json; charset=utf-8")
        self.assertEqual(fields["x-request-id"], "wire-1")
        self.assertEqual(fields["connection"], "close")  # asked for, and the server closed
        self.assertEqual(int(fields["content-length"]), len(body))
        self.assertEqual(json.loads(body)["status"], "ok")

    def test_head_has_length_but_no_body(self):
        get = parse_raw_response(raw_exchange(self.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        status, head, body = parse_raw_response(
            raw_exchange(self.port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        self.assertEqual(status, 200)
        self.assertIn(f"Content-Length: {len(get[2])}", head)
        self.assertEqual(body, b"")

    def split_responses(self, raw):
        """Splits several Content-Length framed responses written back to back."""
        out = []
        while raw:
            head, _, rest = raw.partition(b"\r\n\r\n")
            fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in head.decode().split("\r\n")[1:])}
            n = int(fields.get("content-length", "0"))
            out.append((int(head.split(b" ", 2)[1]), fields, rest[:n]))
            raw = rest[n:]
        return out

    def test_pipelined_requests_are_answered_in_order(self):
        """Requests sent back to back in one segment are each parsed and answered, in order."""
        req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-1\r\n\r\n"
               b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-2\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(WRONG_LOGIN) + WRONG_LOGIN +
               b"GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-3\r\nConnection: close\r\n\r\n")
        answers = self.split_responses(raw_exchange(self.port, req))
        self.assertEqual([(st, f["x-request-id"]) for st, f, _ in answers],
                         [(200, "pipe-1"), (401, "pipe-2"), (404, "pipe-3")])
        self.assertEqual(json.loads(answers[1][2])["error"]["code"], "unauthorized")

    def test_request_arriving_in_pieces(self):
        """A head cut mid-line and a body in two parts, each after a pause, make one request."""
        req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(WRONG_LOGIN) + WRONG_LOGIN)
        cut_head, cut_body = 30, req.index(b"\r\n\r\n") + 4 + 10
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            for piece in (req[:cut_head], req[cut_head:cut_body], req[cut_body:]):
                s.sendall(piece)
                time.sleep(0.1)
            self.assert_unauthorized(read_until_closed(s))

    def test_expect_100_continue(self):
        """A client that waits for 100 Continue gets it before sending the body, then the answer."""
        head = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(WRONG_LOGIN))
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(head)
            interim = s.recv(65536)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
            s.sendall(WRONG_LOGIN)
            self.assert_unauthorized(read_until_closed(s))

    def assert_unauthorized(self, raw):
        status, _, body = parse_raw_response(raw)
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["error"]["code"], "unauthorized")

    def test_server_survives_bad_input(self):
        for payload in (b"\x00" * 100 + b"\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
            raw_exchange(self.port, payload, timeout=3)
        self.assertEqual(self.client().get("/healthz").status, 200)


class Framing(ServerTestCase):
    """A body framed by anything but Content-Length alone or exactly `chunked` alone is refused:
    400 with the JSON error, the connection closed, and the bytes after the head never read as
    another request (the smuggled GET below would answer 200)."""
    SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: smuggled\r\n\r\n"

    def assert_refused(self, framing, body, mentions="Transfer-Encoding"):
        req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
               framing + b"\r\n" + body)
        raw = raw_exchange(self.port, req)
        status, head, payload = parse_raw_response(raw)
        self.assertEqual(status, 400, raw)
        self.assertEqual(json.loads(payload)["error"]["code"], "bad_request")
        self.assertIn(mentions, json.loads(payload)["error"]["message"])
        self.assertIn("Connection: close", head)
        self.assertEqual(raw.count(b"HTTP/1.1 "), 1, raw)  # one answer: nothing else was parsed
        self.assertNotIn(b"smuggled", raw)

    def test_chunked_then_identity(self):
        body = b"%x\r\n" % len(WRONG_LOGIN) + WRONG_LOGIN + b"\r\n0\r\n\r\n"
        self.assert_refused(b"Transfer-Encoding: chunked, identity\r\n", self.SMUGGLED + body)

    def test_gzip(self):
        self.assert_refused(b"Transfer-Encoding: gzip\r\n", self.SMUGGLED)

    def test_identity(self):
        self.assert_refused(b"Transfer-Encoding: identity\r\n", self.SMUGGLED)

    def test_two_transfer_encoding_fields(self):
        body = b"%x\r\n" % len(WRONG_LOGIN) + WRONG_LOGIN + b"\r\n0\r\n\r\n"
        self.assert_refused(b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", body + self.SMUGGLED)

    def test_transfer_encoding_with_content_length(self):
        n = len(self.SMUGGLED)
        self.assert_refused(b"Transfer-Encoding: gzip\r\nContent-Length: %d\r\n" % n, self.SMUGGLED)
        self.assert_refused(b"Content-Length: %d\r\nTransfer-Encoding: identity\r\n" % n, self.SMUGGLED)
        # Both orders of chunked + Content-Length (the length would end the body inside the chunk);
        # Beast's parser refuses these itself, in its own words.
        chunked = b"%x\r\n" % len(WRONG_LOGIN) + WRONG_LOGIN + b"\r\n0\r\n\r\n"
        self.assert_refused(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunked + self.SMUGGLED,
                            mentions="malformed")
        self.assert_refused(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", chunked + self.SMUGGLED,
                            mentions="malformed")

    def test_exactly_chunked_is_read(self):
        body = b"%x\r\n" % len(WRONG_LOGIN) + WRONG_LOGIN + b"\r\n0\r\n\r\n"
        for te in (b"chunked", b"Chunked", b" chunked "):
            raw = raw_exchange(self.port, b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                          b"Content-Type: application/json\r\nTransfer-Encoding:" + te + b"\r\n\r\n" + body)
            status, _, payload = parse_raw_response(raw)
            self.assertEqual(status, 401, raw)
            self.assertEqual(json.loads(payload)["error"]["code"], "unauthorized")


class HeaderDeadline(ServerTestCase):
    env = {"HEADER_TIMEOUT_SECONDS": "2", "IDLE_TIMEOUT_SECONDS": "10"}

    def trickle_until_closed(self, s, first=b""):
        """Sends `first`, then one header byte every 0.1 s; returns when the server closes."""
        s.sendall(first)
        for _ in range(100):
            try:
                s.sendall(b"X")
                s.settimeout(0.1)
                try:
                    if s.recv(4096) == b"":
                        return
                except socket.timeout:
                    pass
            except (BrokenPipeError, ConnectionResetError):
                return
        self.fail("the slow head was never cut")

    def test_first_head_is_due_header_timeout_after_the_accept(self):
        """The first head's deadline counts from the accept, however late its first byte."""
        s = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(s.close)
        t0 = time.monotonic()
        time.sleep(1.5)  # the first byte comes late, then the rest trickles
        self.trickle_until_closed(s, b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 1.9)
        self.assertLess(elapsed, 2.7)  # not 1.5 + 2 s

    def test_next_head_is_due_header_timeout_after_its_first_byte(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(s.close)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        self.assertIn(b"200 OK", s.recv(4096))
        time.sleep(1.0)  # idle on a kept-alive connection: the idle timeout, not the head's
        t0 = time.monotonic()
        self.trickle_until_closed(s, b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 1.9)
        self.assertLess(elapsed, 2.7)


class StreamedChatClientLeaves(unittest.TestCase):
    """A streamed chat notices its client leaving even after the client sent more bytes."""

    @classmethod
    def setUpClass(cls):
        from harness import Emulator
        # A slow pace keeps the stream open long enough to leave in the middle.
        cls.emu = Emulator("--tokens-per-second", "20", "--reply-words", "30")
        cls.server = Confidant({"LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "k", "GEMINI_BASE_URL": cls.emu.url})
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        code = cls.server.close()
        cls.emu.stop()
        assert code == 0, cls.server.stderr()[-2000:]

    def start_stream(self, token):
        s = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(s.close)
        body = json.dumps({"message": "a long story please", "stream": True}).encode()
        s.sendall(b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        s.settimeout(10)
        seen = b""
        while b"event: delta" not in seen:
            chunk = s.recv(4096)
            self.assertTrue(chunk, seen)
            seen += chunk
        return s, seen

    def history(self, token):
        c = Client(self.port, token)
        self.addCleanup(c.close)
        r = c.get("/v1/chat/history")
        self.assertEqual(r.status, 200, r.body)
        return r.json()["messages"]

    def test_pipelined_byte_then_close_stores_nothing(self):
        token, _ = register(Client(self.port))
        s, _ = self.start_stream(token)
        s.sendall(b"G")  # the start of another request...
        time.sleep(0.3)
        s.close()  # ...and gone
        time.sleep(3.5)  # well past the end the stream would have had
        self.assertEqual(self.history(token), [])

    def test_request_pipelined_during_a_stream_is_answered_after_it(self):
        token, _ = register(Client(self.port))
        s, seen = self.start_stream(token)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: after-stream\r\nConnection: close\r\n\r\n")
        raw = seen + read_until_closed(s)
        stream, _, after = raw.partition(b"\r\n0\r\n\r\n")  # the last chunk ends the SSE answer
        self.assertIn(b"event: done", stream)
        status, head, body = parse_raw_response(after)
        self.assertEqual(status, 200, after)
        self.assertIn("X-Request-Id: after-stream", head)
        self.assertEqual(len(self.history(token)), 2)


class KeepAliveAndTimeouts(ServerTestCase):
    env = {"HEADER_TIMEOUT_SECONDS": "1", "IDLE_TIMEOUT_SECONDS": "2"}

    def test_keep_alive_reuses_connection(self):
        c = self.client()
        for _ in range(20):
            self.assertEqual(c.get("/healthz").status, 200)
        # http.client reconnects silently; make sure the socket stayed the same.
        sock = c.conn.sock
        c.get("/healthz")
        self.assertIs(c.conn.sock, sock)

    def test_slowloris_is_dropped(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(s.close)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        t0 = time.time()
        closed = False
        # Trickle a header byte at a time, well past the 1 s header timeout.
        for _ in range(40):
            try:
                s.sendall(b"X")
                time.sleep(0.1)
                s.settimeout(0.01)
                try:
                    if s.recv(1024) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        self.assertTrue(closed, "the slow client was not disconnected")
        self.assertLess(time.time() - t0, 3.9)

    def test_client_retries_only_idempotent_requests_after_an_idle_close(self):
        """The test client must not hide a dropped connection: after the server closed an idle
        kept-alive connection, a GET is retried once on a new one, a POST raises."""
        c = self.client()
        self.assertEqual(c.get("/healthz").status, 200)
        time.sleep(2.5)  # past IDLE_TIMEOUT_SECONDS: the server has closed this connection
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            c.post("/v1/auth/login", {"username": "nobody-here", "password": "wrong-password"})
        self.assertEqual(c.post("/v1/auth/login", {"username": "x", "password": "y"}).status, 401)  # new connection
        time.sleep(2.5)
        self.assertEqual(c.get("/healthz").status, 200)  # retried on a new connection

    def test_idle_keep_alive_connection_is_closed(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(s.close)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        data = s.recv(4096)
        self.assertIn(b"200 OK", data)
        t0 = time.time()
        self.assertEqual(s.recv(4096), b"")  # closed by the server after the idle timeout
        self.assertGreater(time.time() - t0, 1.0)


class GracefulShutdown(unittest.TestCase):
    def test_sigterm_finishes_in_flight_requests_and_exits_zero(self):
        # A slow emulated model keeps a chat request in flight while we send SIGTERM.
        from harness import Emulator
        emu = Emulator("--latency-ms", "1500")
        self.addCleanup(emu.stop)
        server = Confidant({"LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "k", "GEMINI_BASE_URL": emu.url,
                            "DRAIN_TIMEOUT_SECONDS": "10"})
        try:
            token, _ = register(Client(server.port))
            result = {}

            def chat():
                result["r"] = Client(server.port, token).post("/v1/chat", {"message": "hello there"})

            t = threading.Thread(target=chat)
            t.start()
            time.sleep(0.5)
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            # New connections are refused once draining started.
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            t.join(20)
            self.assertEqual(result["r"].status, 200, result["r"].body)
            self.assertIn("hello there", result["r"].json()["reply"]["content"])
            self.assertEqual(server.proc.wait(20), 0)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
