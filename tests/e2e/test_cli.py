"""The binary's subcommands, flags and configuration errors."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CONFIDANT_BIN


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="confidant-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin"), "DATABASE_URL": f"sqlite://{self.dir}/db.sqlite",
                    "PASSWORD_HASH_PROFILE": "fast", "LOG_LEVEL": "warn"}

    def run_cli(self, *args, env=None, stdin=b""):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([CONFIDANT_BIN, *args], env=e, input=stdin, capture_output=True, cwd=self.dir, timeout=60)

    def test_version(self):
        r = self.run_cli("version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r"^confidant \d+\.\d+\.\d+")

    def test_unknown_command_and_flags_exit_2(self):
        for args in (("bogus",), ("serve", "--nope"), ("user", "create", "--username", "abc", "--what"),
                     ("user", "delete"), ("user", "create", "--username"), ("version", "x"), ()):
            r = self.run_cli(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertTrue(r.stderr.decode().startswith("confidant: ") or not args, (args, r.stderr))

    def test_bad_configuration_names_the_variable(self):
        for var, value in (("PORT", "eighty"), ("PORT", "70000"), ("REDIS_RETRY_ATTEMPTS", "-1"),
                           ("LOG_FORMAT", "xml"), ("DATABASE_URL", "mysql://x"), ("CACHE_TTL_SECONDS", "0"),
                           ("REDIS_RETRY_ON_TIMEOUT", "maybe"), ("LLM_PROVIDER", "claude")):
            r = self.run_cli("serve", env={var: value})
            self.assertEqual(r.returncode, 2, (var, value))
            err = r.stderr.decode().strip()
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(var, err)

    def test_dotenv_is_read_and_environment_wins(self):
        with open(os.path.join(self.dir, ".env"), "w") as f:
            f.write("# comment\nPORT=notaport\n")
        r = self.run_cli("serve")
        self.assertEqual(r.returncode, 2)
        self.assertIn("PORT", r.stderr.decode())
        r = self.run_cli("migrate", env={"PORT": "8123"})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_migrate_and_user_create(self):
        self.assertEqual(self.run_cli("migrate").returncode, 0)
        self.assertEqual(self.run_cli("migrate").returncode, 0)  # idempotent
        r = self.run_cli("user", "create", "--username", "boss", "--admin", stdin=b"boss-password-1\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("admin", r.stdout.decode())
        r = self.run_cli("user", "create", "--username", "boss", stdin=b"boss-password-1\n")
        self.assertEqual(r.returncode, 1)
        r = self.run_cli("user", "create", "--username", "shorty", stdin=b"short\n")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
