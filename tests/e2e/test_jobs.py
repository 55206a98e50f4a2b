"""The job queue through the API: speech jobs (espeak and Gemini's TTS through the emulator), the
audio they make (owner only, ranges), cancel, the admin's view of the queue and its dead-letter
list."""
import struct
import time
import unittest

from harness import Client, Confidant, Emulator, ServerTestCase, register, unique_name

ADMIN = {"ADMIN_USERNAME": "queue_admin", "ADMIN_PASSWORD": "admin-password-1", "ADMIN_RATE_LIMIT_PER_MINUTE": "1000"}


def wav_info(data):
    """(sample_rate, channels, bits, duration_ms) of a RIFF/WAVE PCM file; asserts the layout."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    pos, fmt, size = 12, None, None
    while pos + 8 <= len(data):
        cid, clen = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
        elif cid == b"data":
            size = clen
        pos += 8 + clen + (clen & 1)
    assert fmt is not None and size is not None
    audio_format, channels, rate, byte_rate, _align, bits = fmt
    assert audio_format == 1, audio_format  # PCM
    return rate, channels, bits, size * 1000 // byte_rate


def wait_job(client, job_id, timeout=30, until=("succeeded", "dead")):
    deadline = time.time() + timeout
    while True:
        r = client.get(f"/v1/jobs/{job_id}")
        assert r.status == 200, (r.status, r.body)
        job = r.json()
        if job["status"] in until or time.time() > deadline:
            return job
        time.sleep(0.05)


class SpeechJobs(ServerTestCase):
    env = dict(ADMIN)

    def user(self):
        token, user = register(self.client())
        return self.client(token), user

    def metric(self, name):
        body = self.client().get("/metrics").body.decode()
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def test_tts_job_makes_a_wav_for_its_owner_only(self):
        c, _ = self.user()
        r = c.post("/v1/tts", {"text": "Hello there, this is your companion speaking."})
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["status"], "queued")
        job_id = r.json()["job_id"]
        self.assertIsInstance(job_id, str)
        job = wait_job(c, job_id)
        self.assertEqual(job["status"], "succeeded", job)
        self.assertEqual(job["type"], "tts")
        self.assertEqual(job["attempts"], 1)
        result = job["result"]
        self.assertEqual(result["format"], "audio/wav")
        self.assertEqual(result["audio_url"], f"/v1/audio/{job_id}")
        self.assertIsNotNone(job["finished_at"])
        audio = c.get(result["audio_url"])
        self.assertEqual(audio.status, 200)
        self.assertEqual(audio.header("Content-Type"), "audio/wav")
        self.assertEqual(int(audio.header("Content-Length")), len(audio.body))
        rate, channels, bits, duration = wav_info(audio.body)
        self.assertEqual((rate, channels, bits), (22050, 1, 16))
        self.assertEqual(duration, result["duration_ms"])
        self.assertTrue(1000 <= duration <= 8000, duration)  # 46 characters of speech

        stranger, _ = self.user()
        self.assertEqual(stranger.get(result["audio_url"]).status, 404)
        self.assertEqual(stranger.get(f"/v1/jobs/{job_id}").status, 404)
        self.assertEqual(Client(self.port).get(result["audio_url"]).status, 401)

    def test_longer_text_is_longer_speech_and_a_repeat_is_not_synthesized_again(self):
        c, _ = self.user()
        text = unique_name("Repeat after me number ")
        before = self.metric("tts_syntheses_total")
        first = wait_job(c, c.post("/v1/tts", {"text": text}).json()["job_id"])
        second = wait_job(c, c.post("/v1/tts", {"text": text}).json()["job_id"])
        self.assertEqual(first["status"], "succeeded")
        self.assertEqual(second["status"], "succeeded")
        self.assertEqual(self.metric("tts_syntheses_total") - before, 1)
        self.assertEqual(first["result"]["duration_ms"], second["result"]["duration_ms"])
        long = wait_job(c, c.post("/v1/tts", {"text": text + " " + "and so on, " * 20}).json()["job_id"])
        self.assertGreater(long["result"]["duration_ms"], 3 * first["result"]["duration_ms"])

    def test_range_requests(self):
        c, _ = self.user()
        job = wait_job(c, c.post("/v1/tts", {"text": "Seek me"}).json()["job_id"])
        url = job["result"]["audio_url"]
        whole = c.get(url).body
        r = c.get(url, headers={"Range": "bytes=0-11"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, whole[:12])
        self.assertEqual(r.header("Content-Range"), f"bytes 0-11/{len(whole)}")
        r = c.get(url, headers={"Range": "bytes=-100"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, whole[-100:])
        r = c.get(url, headers={"Range": "bytes=100-"})
        self.assertEqual(r.body, whole[100:])
        r = c.get(url, headers={"Range": f"bytes={len(whole)}-"})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.header("Content-Range"), f"bytes */{len(whole)}")
        r = c.get(url, headers={"Range": "bytes=0-1,5-6"})  # several ranges: the whole file
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, whole)

    def test_speak_on_chat_queues_the_reply(self):
        c, _ = self.user()
        r = c.post("/v1/chat", {"message": "Talk to me", "speak": True})
        self.assertEqual(r.status, 200, r.body)
        job_id = r.json()["tts_job_id"]
        job = wait_job(c, job_id)
        self.assertEqual(job["status"], "succeeded", job)
        self.assertEqual(c.get(job["result"]["audio_url"]).status, 200)
        self.assertNotIn("tts_job_id", c.post("/v1/chat", {"message": "quiet"}).json())

    def test_validation(self):
        c, _ = self.user()
        for body in ({}, {"text": ""}, {"text": "x" * 2001}, {"text": 5}, {"text": "hi", "voice": "a b"},
                     {"text": "hi", "voice": ""}, {"text": "hi", "voice": 7}):
            r = c.post("/v1/tts", body)
            self.assertEqual(r.status, 400, (body, r.body))
            self.assertEqual(r.error_code(), "bad_request")
        self.assertEqual(c.post("/v1/tts", {"text": "ü" * 2000}).status, 202)
        self.assertEqual(c.post("/v1/chat", {"message": "hi", "speak": "yes"}).status, 400)
        self.assertEqual(Client(self.port).post("/v1/tts", {"text": "hi"}).status, 401)
        for bad in ("abc", "0", "-1", "99999999"):
            self.assertEqual(c.get(f"/v1/jobs/{bad}").status, 404, bad)
            self.assertEqual(c.get(f"/v1/audio/{bad}").status, 404, bad)

    def test_an_unknown_voice_is_dead_at_once_and_the_admin_can_see_retry_and_delete_it(self):
        c, _ = self.user()
        job_id = c.post("/v1/tts", {"text": "hi", "voice": "xx-nonexistent"}).json()["job_id"]
        job = wait_job(c, job_id)
        self.assertEqual(job["status"], "dead", job)
        self.assertEqual(job["attempts"], 1)  # no retry can help
        self.assertIn("voice", job["error"])
        admin = self.client(self.client().post("/v1/auth/login", {"username": "queue_admin",
                                                                    "password": "admin-password-1"}).json()["access_token"])
        self.assertEqual(admin.get(f"/v1/jobs/{job_id}").status, 200)  # admins see every job
        dead = admin.get("/admin/jobs?status=dead&limit=200")
        self.assertEqual(dead.status, 200)
        self.assertIn(job_id, [j["id"] for j in dead.json()["jobs"]])
        stats = admin.get("/admin/queue_stats").json()
        self.assertEqual(stats["backend"], "db")
        self.assertGreaterEqual(stats["workers"], 1)
        self.assertGreaterEqual(stats["queues"]["speech"]["dead"], 1)
        for key in ("queued", "running", "succeeded", "failed", "dead", "oldest_queued_age_s"):
            self.assertIn(key, stats["queues"]["speech"])
        r = admin.post(f"/admin/jobs/{job_id}/retry")
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["id"], job_id)
        self.assertEqual(r.json()["attempts"], 0)
        job = wait_job(c, job_id)
        self.assertEqual(job["status"], "dead")  # still a bad voice
        self.assertEqual(admin.post(f"/admin/jobs/{job_id}/retry").status, 202)
        wait_job(c, job_id)
        self.assertEqual(admin.delete(f"/admin/jobs/{job_id}").status, 204)
        self.assertEqual(admin.get(f"/v1/jobs/{job_id}").status, 404)
        self.assertEqual(admin.delete(f"/admin/jobs/{job_id}").status, 404)
        self.assertEqual(admin.post(f"/admin/jobs/{job_id}/retry").status, 404)
        self.assertEqual(admin.get("/admin/jobs?status=bogus").status, 400)
        self.assertEqual(c.get("/admin/jobs").status, 403)
        self.assertEqual(c.get("/admin/queue_stats").status, 403)


class CancelWithoutWorkers(ServerTestCase):
    """A server whose jobs are run by separate worker processes: jobs stay queued here."""
    env = dict(ADMIN, WORKERS_IN_SERVE="false")

    def test_cancel_a_queued_job(self):
        token, _ = register(self.client())
        c = self.client(token)
        job_id = c.post("/v1/tts", {"text": "never mind"}).json()["job_id"]
        self.assertEqual(c.get(f"/v1/jobs/{job_id}").json()["status"], "queued")
        other, _ = register(self.client())
        self.assertEqual(self.client(other).delete(f"/v1/jobs/{job_id}").status, 404)
        self.assertEqual(c.delete(f"/v1/jobs/{job_id}").status, 204)
        self.assertEqual(c.get(f"/v1/jobs/{job_id}").status, 404)
        self.assertEqual(c.delete(f"/v1/jobs/{job_id}").status, 404)
        stats = self.client(self.client().post("/v1/auth/login", {"username": "queue_admin",
                                                                   "password": "admin-password-1"}).json()[
                                "access_token"]).get("/admin/queue_stats").json()
        self.assertEqual(stats["workers"], 0)


class GeminiSpeech(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--api-key", "test-key", "--latency-ms", "1500")
        cls.server = Confidant({"TTS_PROVIDER": "gemini", "GEMINI_API_KEY": "test-key",
                                "GEMINI_BASE_URL": cls.emu.url, **ADMIN})

    @classmethod
    def tearDownClass(cls):
        code = cls.server.close()
        cls.emu.stop()
        assert code == 0, cls.server.stderr()[-2000:]

    def test_gemini_speech_is_24khz_and_a_running_job_cannot_be_cancelled(self):
        token, _ = register(Client(self.server.port))
        c = Client(self.server.port, token)
        text = "Gemini speaks this sentence."
        job_id = c.post("/v1/tts", {"text": text, "voice": "Puck"}).json()["job_id"]
        job = wait_job(c, job_id, until=("running", "succeeded", "dead"))
        self.assertEqual(job["status"], "running")  # the emulator answers after 1.5 s
        r = c.delete(f"/v1/jobs/{job_id}")
        self.assertEqual(r.status, 409)
        self.assertEqual(r.error_code(), "conflict")
        job = wait_job(c, job_id)
        self.assertEqual(job["status"], "succeeded", job)
        rate, channels, bits, duration = wav_info(c.get(job["result"]["audio_url"]).body)
        self.assertEqual((rate, channels, bits), (24000, 1, 16))
        self.assertAlmostEqual(duration, 60 * len(text), delta=60)  # the emulator's 60 ms a character


if __name__ == "__main__":
    unittest.main()
