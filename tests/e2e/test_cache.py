"""The cache layer with a real redis-server: stats, pattern invalidation, Redis outages,
cross-instance invalidation and rate limits, single-flight."""
import asyncio
import re
import shutil
import tempfile
import threading
import time
import unittest

from harness import Client, Confidant, RedisServer, register

ADMIN = {"ADMIN_USERNAME": "cache_admin", "ADMIN_PASSWORD": "cache-admin-pw-1"}


def admin_client(port):
    r = Client(port).post("/v1/auth/login", {"username": "cache_admin", "password": "cache-admin-pw-1"})
    assert r.status == 200, r.body
    return Client(port, r.json()["access_token"])


def metric(port, name, labels):
    text = Client(port).get("/metrics").body.decode()
    m = re.search(re.escape(name + "{" + labels + "}") + r" (\S+)", text)
    return float(m.group(1)) if m else 0.0


class LocalOnly(unittest.TestCase):
    def test_stats_without_redis(self):
        server = Confidant(dict(ADMIN))
        try:
            admin = admin_client(server.port)
            token, _ = register(Client(server.port))
            me = Client(server.port, token)
            me.get("/v1/me")
            me.get("/v1/me")
            r = admin.get("/admin/cache_stats")
            self.assertEqual(r.status, 200, r.body)
            st = r.json()["cache_stats"]
            self.assertEqual(st["status"], "local_only")
            self.assertEqual(st["backend"], "local")
            for k in ("used_memory_human", "total_keys", "hit_rate", "hits", "misses", "active_connections", "l1"):
                self.assertIn(k, st)
            self.assertGreater(st["hits"], 0)
            self.assertTrue(0 <= st["hit_rate"] <= 100)
            self.assertEqual(set(st["l1"]) >= {"entries", "hit_rate"}, True)
            r = admin.post("/admin/cache/invalidate", {"pattern": "user:*"})
            self.assertEqual(r.status, 200)
            self.assertGreaterEqual(r.json()["deleted"], 1)
            self.assertEqual(admin.post("/admin/cache/invalidate", {}).status, 400)
            self.assertEqual(admin.post("/admin/cache/invalidate", {"pattern": 5}).status, 400)
            user_tok = Client(server.port, token)
            self.assertEqual(user_tok.get("/admin/cache_stats").status, 403)
            self.assertEqual(Client(server.port).post("/admin/cache/invalidate", {"pattern": "x"}).status, 401)
        finally:
            self.assertEqual(server.close(), 0)

    def test_single_flight_one_store_read_for_500_concurrent_misses(self):
        server = Confidant({"CACHE_WARMUP_USERS": "0"})
        try:
            token, _ = register(Client(server.port))
            before = metric(server.port, "store_operations_total", 'op="find_user"')

            async def one(start):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                await start.wait()
                writer.write(f"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                             f"Connection: close\r\n\r\n".encode())
                await writer.drain()
                data = await reader.read()
                writer.close()
                return data.split(b" ", 2)[1]

            async def main():
                start = asyncio.Event()
                tasks = [asyncio.create_task(one(start)) for _ in range(500)]
                await asyncio.sleep(0.5)  # every connection open before the first request
                start.set()
                return await asyncio.gather(*tasks)

            statuses = asyncio.run(main())
            self.assertEqual(statuses, [b"200"] * 500)
            after = metric(server.port, "store_operations_total", 'op="find_user"')
            self.assertEqual(after - before, 1)
        finally:
            self.assertEqual(server.close(), 0)


class WithRedis(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.addCleanup(self.redis.close)
        self.dir = tempfile.mkdtemp(prefix="confidant-cache-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.servers = []

    def start(self, **env):
        full = dict(ADMIN)
        full.update({"REDIS_URL": self.redis.url, "REDIS_HEALTH_CHECK_INTERVAL": "3", "ADMIN_RATE_LIMIT_PER_MINUTE": "1000"})
        full.update(env)
        s = Confidant(full, db_dir=self.dir)
        self.servers.append(s)
        self.addCleanup(lambda: self.assertEqual(s.close(), 0, s.stderr()[-2000:]))
        return s

    def test_stats_and_scan_invalidation(self):
        s = self.start()
        admin = admin_client(s.port)
        for _ in range(3):
            token, _ = register(Client(s.port))
            Client(s.port, token).get("/v1/me")
            Client(s.port, token).get("/v1/me")
        st = admin.get("/admin/cache_stats").json()["cache_stats"]
        self.assertEqual(st["status"], "active")
        self.assertEqual(st["backend"], "redis")
        self.assertGreaterEqual(st["total_keys"], 3)
        self.assertRegex(st["used_memory_human"], r"^[\d.]+[BKMG]")
        self.assertGreater(st["active_connections"], 0)
        self.assertGreater(st["hits"], 0)
        # Unrelated keys of another application in the same database are left alone.
        self.redis.command("SET", "user:not-ours", "1")
        r = admin.post("/admin/cache/invalidate", {"pattern": "user:*"})
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(r.json()["deleted"], 3)
        self.assertIn("$1", self.redis.command("GET", "user:not-ours"))
        stats = self.redis.command("INFO", "commandstats")
        self.assertIn("cmdstat_scan", stats)
        self.assertNotIn("cmdstat_keys", stats)

    def test_redis_outage_loses_no_request_and_recovers(self):
        s = self.start(REDIS_HEALTH_CHECK_INTERVAL="3")
        admin = admin_client(s.port)
        token, _ = register(Client(s.port))
        c = Client(s.port, token)
        self.assertEqual(c.post("/v1/chat", {"message": "before the outage"}).status, 200)
        failures, done, count = [], threading.Event(), [0]

        def hammer():
            try:
                cl = Client(s.port, token)
                while not done.is_set():
                    for path in ("/v1/me", "/v1/chat/history"):
                        r = cl.get(path)
                        count[0] += 1
                        if r.status != 200:
                            failures.append((path, r.status, r.body))
            except BaseException as e:  # a dead hammer must fail the test, not stop checking
                failures.append(("hammer died", repr(e)))

        t = threading.Thread(target=hammer)
        t.start()
        try:
            time.sleep(0.5)
            self.redis.stop()
            time.sleep(1.5)
            st = admin.get("/admin/cache_stats").json()["cache_stats"]
            self.assertEqual(st["status"], "degraded")
            self.assertEqual(Client(s.port).get("/readyz").status, 200)  # still ready
            self.assertEqual(Client(s.port).get("/readyz").json()["checks"]["cache"], "degraded")
            # Writes still work and are visible (the local tier is invalidated too).
            self.assertEqual(c.patch("/v1/me", {"display_name": "during outage"}).status, 200)
            self.assertEqual(c.get("/v1/me").json()["display_name"], "during outage")
            self.redis.start()
            deadline = time.time() + 3 + 1
            status = None
            while time.time() < deadline:
                status = admin.get("/admin/cache_stats").json()["cache_stats"]["status"]
                if status == "active":
                    break
                time.sleep(0.2)
            self.assertEqual(status, "active")
            time.sleep(0.5)
        finally:
            done.set()
            t.join(10)
        self.assertFalse(t.is_alive(), "the hammer thread did not stop")
        self.assertEqual(failures, [])
        self.assertGreater(count[0], 50)

    def test_no_stale_cache_after_redis_is_killed_and_returns_with_its_data(self):
        # Redis persists (AOF, fsync on every write) and is killed with SIGKILL just before the
        # writes: their invalidations cannot reach it nor the other instance. It then comes back
        # with the old profile and history page. B keeps L1 copies 300 s, so only the
        # invalidation machinery (replay, L1 drop on resubscription) can make it see the new
        # values; A keeps them 1 s, so it soon reads Redis again and must not find the old ones.
        redis = RedisServer(appendonly=True)
        self.addCleanup(redis.close)
        env = {"REDIS_URL": redis.url, "CACHE_TTL_SECONDS": "600"}
        a = self.start(CACHE_L1_TTL_SECONDS="1", **env)
        b = self.start(CACHE_L1_TTL_SECONDS="300", **env)
        token, _ = register(Client(a.port))
        ca, cb = Client(a.port, token), Client(b.port, token)
        self.assertEqual(ca.post("/v1/chat", {"message": "before the kill"}).status, 200)
        for c in (ca, cb, ca, cb):  # cached in Redis and in both L1s
            me = c.get("/v1/me").json()
            self.assertNotEqual(me["display_name"], "after the kill")
            self.assertEqual(len(c.get("/v1/chat/history").json()["messages"]), 2)
        # At least the generation key, the profile and the history page are in Redis.
        self.assertGreaterEqual(int(redis.command("DBSIZE").strip().lstrip(":")), 3)

        redis.kill()
        r = ca.patch("/v1/me", {"display_name": "after the kill"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(ca.post("/v1/chat", {"message": "while redis is dead"}).status, 200)
        self.assertEqual(ca.get("/v1/me").json()["display_name"], "after the kill")
        self.assertIn("cache_l2_reads_suspended 1", Client(a.port).get("/metrics").body.decode())

        redis.start()  # same port and directory; returns once the AOF is loaded
        back = time.time()
        seen = {}
        while time.time() < back + 2.0:
            seen = {
                "me_a": ca.get("/v1/me").json()["display_name"],
                "me_b": cb.get("/v1/me").json()["display_name"],
                "hist_a": [m["content"] for m in ca.get("/v1/chat/history").json()["messages"]][-2:-1],
                "hist_b": [m["content"] for m in cb.get("/v1/chat/history").json()["messages"]][-2:-1],
            }
            if seen == {"me_a": "after the kill", "me_b": "after the kill",
                        "hist_a": ["while redis is dead"], "hist_b": ["while redis is dead"]}:
                break
            time.sleep(0.05)
        self.assertEqual(seen, {"me_a": "after the kill", "me_b": "after the kill",
                                "hist_a": ["while redis is dead"], "hist_b": ["while redis is dead"]},
                         f"not within 2 s of Redis returning; A: {a.stderr()[-1500:]}")
        # And it stays so once A's L1 copies have expired: nothing stale comes back from Redis.
        time.sleep(1.2)
        for c in (ca, cb):
            self.assertEqual(c.get("/v1/me").json()["display_name"], "after the kill")
            self.assertEqual(len(c.get("/v1/chat/history").json()["messages"]), 4)
        text_a = Client(a.port).get("/metrics").body.decode()
        self.assertRegex(text_a, r'cache_invalidation_replays_total\{result="ok"\} [1-9]')
        self.assertIn("cache_invalidations_pending 0", text_a)
        self.assertIn("cache_l2_reads_suspended 0", text_a)
        self.assertGreaterEqual(metric(b.port, "cache_l1_flushes_total", 'reason="resubscribed"'), 2)

    def test_invalidation_reaches_other_instance(self):
        a = self.start(CACHE_L1_TTL_SECONDS="300")
        b = self.start(CACHE_L1_TTL_SECONDS="300")
        token, _ = register(Client(a.port))
        ca, cb = Client(a.port, token), Client(b.port, token)
        self.assertEqual(ca.get("/v1/me").json()["display_name"], cb.get("/v1/me").json()["display_name"])
        self.assertEqual(cb.patch("/v1/me", {"display_name": "changed on b"}).status, 200)
        deadline = time.time() + 1.0
        seen = None
        while time.time() < deadline:
            seen = ca.get("/v1/me").json()["display_name"]
            if seen == "changed on b":
                break
            time.sleep(0.05)
        self.assertEqual(seen, "changed on b")

    def test_admin_rate_limit_is_shared_by_instances(self):
        a = self.start(ADMIN_RATE_LIMIT_PER_MINUTE="4")
        b = self.start(ADMIN_RATE_LIMIT_PER_MINUTE="4")
        admin_a, admin_b = admin_client(a.port), admin_client(b.port)
        statuses = [admin_a.get("/admin/cache_stats").status, admin_b.get("/admin/cache_stats").status,
                    admin_a.get("/admin/cache_stats").status, admin_b.get("/admin/cache_stats").status,
                    admin_a.get("/admin/cache_stats").status, admin_b.get("/admin/cache_stats").status]
        self.assertEqual(statuses, [200, 200, 200, 200, 429, 429])
        r = admin_b.get("/admin/cache_stats")
        self.assertEqual(r.error_code(), "rate_limited")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)


if __name__ == "__main__":
    unittest.main()
