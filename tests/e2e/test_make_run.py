"""The README's first command: `make run` starts the binary the build makes, serves /healthz,
and stops cleanly on SIGTERM. The test runs the exact command line `make run` runs (read
from `make -n run`), on a free port and with a temporary data directory."""
import os
import shlex
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.relpath(os.path.dirname(os.environ.get("CONFIDANT_BIN", os.path.join(ROOT, "build", "confidant"))),
                        ROOT)


class MakeRun(unittest.TestCase):
    def test_make_run_serves_and_stops_on_sigterm(self):
        port = free_port()
        dry = subprocess.run(["make", "-s", "-n", "run", f"PORT={port}", f"BUILD={BUILD}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(dry.returncode, 0, dry.stderr)
        serve = [line for line in dry.stdout.splitlines() if line.rstrip().endswith(" serve")]
        self.assertEqual(len(serve), 1, dry.stdout)
        command = serve[0].strip()
        argv = shlex.split(command)
        binary = [a for a in argv if a.endswith("/confidant") or a == "confidant"]
        self.assertTrue(binary, command)
        self.assertTrue(os.access(os.path.join(ROOT, binary[0]), os.X_OK),
                        f"`make run` starts {binary[0]}, which the build did not make")

        data = tempfile.mkdtemp(prefix="confidant-make-run-")
        env = dict(os.environ, DATA_DIR=data, PASSWORD_HASH_PROFILE="fast", LOG_LEVEL="warn")
        env.pop("DATABASE_URL", None)
        env.pop("JWT_SECRET", None)
        # `VAR=value ... program args`: the assignments go to the environment, as the shell does.
        while argv and "=" in argv[0] and not argv[0].startswith("/"):
            name, _, value = argv.pop(0).partition("=")
            env[name] = value
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 30
            body = None
            while time.time() < deadline and body is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                        self.assertEqual(r.status, 200)
                        body = r.read()
                except OSError:
                    if proc.poll() is not None:
                        self.fail(f"exited with {proc.returncode}: " +
                                  proc.stderr.read().decode(errors="replace")[-2000:])
                    time.sleep(0.1)
            self.assertEqual(body, b'{"status":"ok"}')
            self.assertTrue(os.path.exists(os.path.join(data, "confidant.db")))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        self.assertEqual(code, 0, proc.stderr.read().decode(errors="replace")[-2000:])


if __name__ == "__main__":
    unittest.main()
