"""Chat against the Gemini emulator: replies, streaming, retries, the circuit breaker,
idempotency, quotas, history paging, and nothing stored on failure."""
import json
import shutil
import socket
import tempfile
import threading
import time
import unittest

from harness import Client, Confidant, Emulator, register, sse_events, unique_name


class ChatBase(unittest.TestCase):
    emulator_flags = ()
    extra_env = {}

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--api-key", "test-key", *cls.emulator_flags)
        env = {"LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": cls.emu.url,
               "GEMINI_MODEL": "gemini-test", "LLM_ATTEMPT_TIMEOUT_MS": "3000", "LLM_DEADLINE_MS": "8000"}
        env.update(cls.extra_env)
        cls.server = Confidant(env)
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        code = cls.server.close()
        cls.emu.stop()
        assert code == 0, cls.server.stderr()[-2000:]

    def user(self):
        token, user = register(Client(self.port))
        c = Client(self.port, token)
        self.addCleanup(c.close)
        return c, user

    def history(self, c, **q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        r = c.get("/v1/chat/history" + (f"?{qs}" if qs else ""))
        self.assertEqual(r.status, 200, r.body)
        return r.json()


class Chat(ChatBase):
    def test_reply_and_history(self):
        c, _ = self.user()
        r = c.post("/v1/chat", {"message": "my cat is called Miso"})
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["model"], "gemini-test")
        self.assertEqual(body["message"]["role"], "user")
        self.assertEqual(body["message"]["content"], "my cat is called Miso")
        self.assertEqual(body["reply"]["role"], "assistant")
        self.assertTrue(body["reply"]["content"].startswith("You said: my cat is called Miso."))
        self.assertGreater(body["reply"]["id"], body["message"]["id"])
        self.assertRegex(body["reply"]["created_at"], r"Z$")
        h = self.history(c)
        self.assertEqual([m["id"] for m in h["messages"]], [body["message"]["id"], body["reply"]["id"]])
        self.assertFalse(h["has_more"])

    def test_reply_is_deterministic_for_the_same_prompt(self):
        c1, _ = self.user()
        c2, _ = self.user()
        for c in (c1, c2):  # the user's name is part of the prompt
            c.patch("/v1/me", {"display_name": "Sam"})
        a = c1.post("/v1/chat", {"message": "same words"}).json()["reply"]["content"]
        b = c2.post("/v1/chat", {"message": "same words"}).json()["reply"]["content"]
        self.assertEqual(a, b)

    def test_stream_deltas_join_to_reply(self):
        c, _ = self.user()
        r = c.post("/v1/chat", {"message": "tell me a story", "stream": True})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/event-stream"))
        events = sse_events(r.body)
        deltas = [json.loads(d)["text"] for e, d in events if e == "delta"]
        done = [json.loads(d) for e, d in events if e == "done"]
        self.assertGreater(len(deltas), 1)
        self.assertEqual(len(done), 1)
        self.assertEqual(events[-1][0], "done")
        self.assertEqual("".join(deltas), done[0]["reply"]["content"])
        self.assertTrue(done[0]["reply"]["content"].startswith("You said: tell me a story."))
        # Stored like a plain reply.
        self.assertEqual(self.history(c)["messages"][-1]["content"], done[0]["reply"]["content"])

    def test_accept_header_selects_streaming(self):
        c, _ = self.user()
        r = c.post("/v1/chat", {"message": "hello"}, headers={"Accept": "text/event-stream"})
        self.assertTrue(r.header("Content-Type").startswith("text/event-stream"))
        self.assertEqual(sse_events(r.body)[-1][0], "done")

    def test_context_includes_history_and_persona(self):
        c, _ = self.user()
        c.patch("/v1/me", {"companion_persona": "You are a pirate."})
        first = c.post("/v1/chat", {"message": "one"}).json()["reply"]["content"]
        # The same message with a different history must give a different reply (the emulator's
        # tail is derived from the whole prompt), proving the history is part of the prompt.
        second = c.post("/v1/chat", {"message": "one"}).json()["reply"]["content"]
        self.assertNotEqual(first, second)

    def test_validation(self):
        c, _ = self.user()
        for body in ({}, {"message": ""}, {"message": 5}, {"message": "x" * 8001}, {"message": "hi", "stream": "yes"}):
            r = c.post("/v1/chat", body)
            self.assertEqual(r.status, 400, body)
            self.assertEqual(r.error_code(), "bad_request")
        self.assertEqual(c.post("/v1/chat", {"message": "ü" * 8000}).status, 200)  # code points, not bytes
        r = c.post("/v1/chat", {"message": "hi"}, headers={"Idempotency-Key": "k" * 129})
        self.assertEqual(r.status, 400)
        self.assertEqual(Client(self.port).post("/v1/chat", {"message": "hi"}).status, 401)

    def test_idempotency_key_makes_one_model_call(self):
        c, _ = self.user()
        key = unique_name("idem")
        before = self.emu.stats()
        a = c.post("/v1/chat", {"message": "only once please"}, headers={"Idempotency-Key": key})
        b = c.post("/v1/chat", {"message": "only once please"}, headers={"Idempotency-Key": key})
        self.assertEqual(a.status, 200)
        self.assertEqual(b.status, 200)
        self.assertEqual(a.json(), b.json())
        self.assertEqual(self.emu.stats() - before, 1)
        self.assertEqual(len(self.history(c)["messages"]), 2)

    def test_history_paging_is_exact(self):
        c, _ = self.user()
        ids = []
        for i in range(4):
            b = c.post("/v1/chat", {"message": f"m{i}"}).json()
            ids += [b["message"]["id"], b["reply"]["id"]]
        page = self.history(c, limit=3)
        self.assertEqual([m["id"] for m in page["messages"]], ids[-3:])
        self.assertTrue(page["has_more"])
        page2 = self.history(c, limit=3, before=ids[-3])
        self.assertEqual([m["id"] for m in page2["messages"]], ids[2:5])
        self.assertTrue(page2["has_more"])
        page3 = self.history(c, limit=3, before=ids[2])
        self.assertEqual([m["id"] for m in page3["messages"]], ids[:2])
        self.assertFalse(page3["has_more"])
        full = self.history(c, limit=8)
        self.assertEqual([m["id"] for m in full["messages"]], ids)
        self.assertFalse(full["has_more"])
        for bad in ("limit=0", "limit=201", "limit=x", "before=abc", "before=0", "limit=-1"):
            r = c.get("/v1/chat/history?" + bad)
            self.assertEqual(r.status, 400, bad)
            self.assertEqual(r.error_code(), "bad_request")

    def test_delete_history(self):
        c, _ = self.user()
        c.post("/v1/chat", {"message": "forget me"})
        self.assertEqual(len(self.history(c)["messages"]), 2)
        r = c.delete("/v1/chat/history")
        self.assertEqual(r.status, 204)
        self.assertEqual(r.body, b"")
        self.assertEqual(self.history(c), {"messages": [], "has_more": False})
        self.assertEqual(Client(self.port).delete("/v1/chat/history").status, 401)

    def test_history_is_private(self):
        a, _ = self.user()
        b, _ = self.user()
        a.post("/v1/chat", {"message": "secret of a"})
        self.assertEqual(self.history(b)["messages"], [])

    def test_client_disconnect_mid_stream_stores_nothing(self):
        # The slow pace keeps the stream open long enough to hang up in the middle.
        c, _ = self.user()
        self.emu.control(tokens_per_second=20)
        try:
            s = socket.create_connection(("127.0.0.1", self.port))
            body = json.dumps({"message": "a long story please", "stream": True}).encode()
            s.sendall(b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Authorization: Bearer " + c.token.encode() + b"\r\nContent-Length: " +
                      str(len(body)).encode() + b"\r\n\r\n" + body)
            s.settimeout(10)
            self.assertIn(b"event: delta", s.recv(4096) + s.recv(4096))
            s.close()
            time.sleep(2.5)
        finally:
            self.emu.control(tokens_per_second=0)
        self.assertEqual(self.history(c)["messages"], [])

    def test_subscription_counts_messages(self):
        c, _ = self.user()
        c.post("/v1/chat", {"message": "one"})
        c.post("/v1/chat", {"message": "two"})
        self.assertEqual(c.get("/v1/subscription").json()["used_today"], 2)


class Quota(ChatBase):
    extra_env = {"FREE_MESSAGES_PER_DAY": "2"}

    def test_quota_exceeded(self):
        c, _ = self.user()
        self.assertEqual(c.post("/v1/chat", {"message": "1"}).status, 200)
        self.assertEqual(c.post("/v1/chat", {"message": "2"}).status, 200)
        before = self.emu.stats()
        r = c.post("/v1/chat", {"message": "3"})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.error_code(), "quota_exceeded")
        retry = int(r.header("Retry-After"))
        self.assertTrue(1 <= retry <= 86400, retry)
        self.assertEqual(self.emu.stats(), before)  # no model call
        self.assertEqual(len(self.history(c)["messages"]), 4)


class ChatRateLimit(ChatBase):
    extra_env = {"CHAT_RATE_LIMIT_PER_MINUTE": "2"}

    def test_per_minute_limit(self):
        c, _ = self.user()
        self.assertEqual(c.post("/v1/chat", {"message": "a"}).status, 200)
        self.assertEqual(c.post("/v1/chat", {"message": "b"}).status, 200)
        r = c.post("/v1/chat", {"message": "c"})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.error_code(), "rate_limited")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        other, _ = self.user()  # per user
        self.assertEqual(other.post("/v1/chat", {"message": "a"}).status, 200)


class IdempotencyInProgress(ChatBase):
    emulator_flags = ("--latency-ms", "1000")

    def test_concurrent_duplicate_gets_conflict(self):
        c, _ = self.user()
        results = []

        def send():
            results.append(Client(self.port, c.token).post("/v1/chat", {"message": "slow one"},
                                                           headers={"Idempotency-Key": "dup-1"}))

        threads = [threading.Thread(target=send) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.3)
        for t in threads:
            t.join(10)
        self.assertEqual(sorted(r.status for r in results), [200, 409])
        self.assertEqual([r for r in results if r.status == 409][0].error_code(), "conflict")
        again = c.post("/v1/chat", {"message": "slow one"}, headers={"Idempotency-Key": "dup-1"})
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json(), [r for r in results if r.status == 200][0].json())


class QuotaAndIdempotencyOutliveDeletes(ChatBase):
    extra_env = {"FREE_MESSAGES_PER_DAY": "2"}

    def test_deleting_history_does_not_reset_the_quota(self):
        c, _ = self.user()
        self.assertEqual(c.post("/v1/chat", {"message": "one"}).status, 200)
        self.assertEqual(c.post("/v1/chat", {"message": "two"}).status, 200)
        self.assertEqual(c.delete("/v1/chat/history").status, 204)
        self.assertEqual(self.history(c)["messages"], [])
        r = c.post("/v1/chat", {"message": "three"})
        self.assertEqual(r.status, 429, r.body)
        self.assertEqual(r.error_code(), "quota_exceeded")
        self.assertEqual(c.get("/v1/subscription").json()["used_today"], 2)

    def test_a_deleted_conversation_never_comes_back_through_its_key(self):
        c, _ = self.user()
        first = c.post("/v1/chat", {"message": "my secret"}, headers={"Idempotency-Key": "del-1"})
        self.assertEqual(first.status, 200)
        self.assertEqual(c.delete("/v1/chat/history").status, 204)
        again = c.post("/v1/chat", {"message": "my secret"}, headers={"Idempotency-Key": "del-1"})
        self.assertEqual(again.status, 200, again.body)
        self.assertGreater(again.json()["message"]["id"], first.json()["reply"]["id"])
        ids = [m["id"] for m in self.history(c)["messages"]]
        self.assertEqual(ids, [again.json()["message"]["id"], again.json()["reply"]["id"]])


class IdempotencyAcrossInstances(unittest.TestCase):
    """Two instances on one database: a key is reserved in the database, not in a process."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--api-key", "test-key", "--latency-ms", "1500")
        env = {"LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": cls.emu.url,
               "GEMINI_MODEL": "gemini-test"}
        cls.dir = tempfile.mkdtemp(prefix="confidant-shared-")
        cls.a = Confidant(env, db_dir=cls.dir)
        cls.b = Confidant(env, db_dir=cls.dir)

    @classmethod
    def tearDownClass(cls):
        codes = [cls.a.stop(), cls.b.stop()]
        cls.emu.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert codes == [0, 0], codes

    def test_the_second_instance_gets_409_while_the_first_runs_then_the_replay(self):
        token, _ = register(Client(self.a.port))
        first = []
        t = threading.Thread(target=lambda: first.append(
            Client(self.a.port, token).post("/v1/chat", {"message": "once"}, headers={"Idempotency-Key": "x-1"})))
        t.start()
        time.sleep(0.5)
        before = self.emu.stats()
        busy = Client(self.b.port, token).post("/v1/chat", {"message": "once"}, headers={"Idempotency-Key": "x-1"})
        self.assertEqual(busy.status, 409, busy.body)
        self.assertEqual(busy.error_code(), "conflict")
        t.join(10)
        self.assertEqual(first[0].status, 200, first[0].body)
        replay = Client(self.b.port, token).post("/v1/chat", {"message": "once"}, headers={"Idempotency-Key": "x-1"})
        self.assertEqual(replay.status, 200)
        self.assertEqual(replay.json(), first[0].json())
        self.assertEqual(self.emu.stats(), before)  # neither the 409 nor the replay called the model


class RateLimitAndRetries(ChatBase):
    emulator_flags = ("--rate-limit-first", "1", "--retry-after-s", "1")

    def test_429_then_success_after_retry(self):
        c, _ = self.user()
        before = self.emu.stats()
        t0 = time.time()
        r = c.post("/v1/chat", {"message": "retry me"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.emu.stats() - before, 2)
        self.assertGreaterEqual(time.time() - t0, 0.9)  # the RetryInfo hint (1 s) was honoured


class Breaker(ChatBase):
    extra_env = {"LLM_BREAKER_WINDOW": "4", "LLM_BREAKER_MIN_CALLS": "4", "LLM_BREAKER_FAILURE_RATE": "0.5",
                 "LLM_BREAKER_OPEN_SECONDS": "2", "LLM_BREAKER_HALF_OPEN_CALLS": "1", "LLM_MAX_RETRIES": "0"}

    def breaker_state(self):
        # The admin endpoint needs an admin; readiness shows the state without one.
        return Client(self.port).get("/readyz").json()["checks"]["llm"]

    def test_breaker_opens_fails_fast_and_recovers(self):
        c, _ = self.user()
        self.emu.control(outage=True)
        try:
            for i in range(4):
                r = c.post("/v1/chat", {"message": f"fail {i}"})
                self.assertEqual(r.status, 503, r.body)
                self.assertEqual(r.error_code(), "llm_unavailable")
                self.assertGreaterEqual(int(r.header("Retry-After")), 1)
            self.assertEqual(self.breaker_state(), "open")
            before = self.emu.stats()
            t0 = time.time()
            for i in range(20):
                r = c.post("/v1/chat", {"message": "while open"})
                self.assertEqual(r.status, 503)
                self.assertEqual(r.error_code(), "llm_unavailable")
            self.assertEqual(self.emu.stats(), before, "a call reached the provider while the breaker was open")
            self.assertLess(time.time() - t0, 5)
            self.assertEqual(self.history(c)["messages"], [])  # nothing stored on failure
        finally:
            self.emu.control(outage=False)
        time.sleep(2.2)
        r = c.post("/v1/chat", {"message": "back again"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.breaker_state(), "ok")
        self.assertEqual(len(self.history(c)["messages"]), 2)

    def test_stream_failure_sends_error_event(self):
        c, _ = self.user()
        self.emu.control(outage=True)
        try:
            r = c.post("/v1/chat", {"message": "stream fail", "stream": True})
        finally:
            self.emu.control(outage=False)
        if r.status == 200:
            events = sse_events(r.body)
            self.assertEqual(events[-1][0], "error")
            self.assertEqual(json.loads(events[-1][1])["error"]["code"], "llm_unavailable")
        else:
            self.assertEqual(r.status, 503)
        time.sleep(2.2)  # let the breaker half-open again for the other test


class Offline(unittest.TestCase):
    def test_offline_provider_says_so(self):
        server = Confidant({"LLM_PROVIDER": "offline"})
        try:
            token, _ = register(Client(server.port))
            r = Client(server.port, token).post("/v1/chat", {"message": "are you there?"})
            self.assertEqual(r.status, 200, r.body)
            self.assertIn("offline", r.json()["reply"]["content"].lower())
            self.assertIn("are you there?", r.json()["reply"]["content"])
        finally:
            self.assertEqual(server.close(), 0)


class Admin(unittest.TestCase):
    def test_circuit_breakers_endpoint(self):
        server = Confidant({"ADMIN_USERNAME": "boss", "ADMIN_PASSWORD": "boss-password-1"})
        try:
            c = Client(server.port)
            tok = c.post("/v1/auth/login", {"username": "boss", "password": "boss-password-1"}).json()["access_token"]
            r = Client(server.port, tok).get("/admin/circuit_breakers")
            self.assertEqual(r.status, 200)
            b = r.json()["breakers"]
            self.assertEqual(len(b), 1)
            self.assertEqual(set(b[0]), {"name", "state", "failure_rate", "slow_call_rate", "calls", "opened_at", "retry_at"})
            self.assertEqual(b[0]["state"], "closed")
        finally:
            self.assertEqual(server.close(), 0)


if __name__ == "__main__":
    unittest.main()
