"""Workers killed with SIGKILL at random moments lose no job (QUEUE_BACKEND=db on SQLite).

Jobs of the `record` type append "<job id> <attempt> <pid>" to a file. Four `confidant worker`
processes run them while the test kills one at random every few hundred milliseconds and starts
it again. Afterwards every job has succeeded and appears in the file; a job that a killed worker
had finished but not yet recorded as finished runs again (at-least-once), so some ids appear
twice: counting distinct ids, not lines, is what makes the handler idempotent.

The short form runs in `make test`; QUEUE_CRASH_FULL=1 runs the issue's full form (10,000 jobs,
50 kills): `make chaos-queue`.
"""
import collections
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from harness import CONFIDANT_BIN, JWT_SECRET

FULL = os.environ.get("QUEUE_CRASH_FULL") == "1"
JOBS = 10_000 if FULL else 2_000
KILLS = 50 if FULL else 10


class WorkerCrashes(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="confidant-crash-")
        self.record = os.path.join(self.dir, "record.txt")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATA_DIR": self.dir,
            "JWT_SECRET": JWT_SECRET,
            "LOG_LEVEL": "warn",
            "QUEUE_RECORD_FILE": self.record,
            "WORKER_CONCURRENCY": "16",
            "JOB_LEASE_SECONDS": "2",
        }
        self.workers = []

    def tearDown(self):
        for p in self.workers:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_worker(self):
        p = subprocess.Popen([CONFIDANT_BIN, "worker"], env=self.env, cwd=self.dir, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.workers.append(p)
        return p

    def statuses(self):
        db = sqlite3.connect(os.path.join(self.dir, "confidant.db"), timeout=30)
        try:
            return dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        finally:
            db.close()

    def test_no_job_is_lost_when_workers_are_killed(self):
        r = subprocess.run([CONFIDANT_BIN, "jobs", "enqueue", "--type", "record", "--count", str(JOBS),
                            "--max-attempts", "25", "--payload", '{"sleep_ms": 100}'], env=self.env, cwd=self.dir, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        live = [self.start_worker() for _ in range(4)]
        rng = random.Random(7)
        kills = 0
        deadline = time.time() + (600 if FULL else 180)
        while kills < KILLS and time.time() < deadline:
            time.sleep(rng.uniform(0.05, 0.4))
            victim = live.pop(rng.randrange(len(live)))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            live.append(self.start_worker())
            if self.statuses().get("succeeded", 0) == JOBS:
                break
        while time.time() < deadline and self.statuses().get("succeeded", 0) < JOBS:
            time.sleep(0.2)
        for p in live:
            p.send_signal(signal.SIGTERM)
        for p in live:
            self.assertEqual(p.wait(30), 0)

        statuses = self.statuses()
        self.assertEqual(statuses, {"succeeded": JOBS}, statuses)
        with open(self.record) as f:
            lines = [line.split() for line in f if line.strip()]
        runs = collections.Counter(int(fields[0]) for fields in lines)
        missing = [i for i in range(1, JOBS + 1) if runs[i] == 0]
        self.assertEqual(missing, [])
        duplicates = sum(n - 1 for n in runs.values())
        print(f"\n{JOBS} jobs, {kills} SIGKILLs, {len(lines)} runs, {duplicates} duplicate runs "
              f"({len([n for n in runs.values() if n > 1])} jobs ran more than once), 0 lost", flush=True)
        self.assertGreaterEqual(kills, min(KILLS, 5))


if __name__ == "__main__":
    unittest.main()
