"""The throw-away PostgreSQL cluster the PostgreSQL suites use (pg.py): it starts, answers SQL,
keeps committed data across an immediate restart on the same port, runs as a non-root user,
and leaves nothing behind."""
import os
import unittest

from pg import PgServer


class PgServerTest(unittest.TestCase):
    def test_lifecycle(self):
        pg = PgServer()
        try:
            self.assertTrue(pg.running())
            self.assertEqual(pg.url, f"postgresql://postgres@127.0.0.1:{pg.port}/postgres")
            self.assertEqual(pg.psql("SHOW server_version_num")[:2], "15")
            self.assertEqual(pg.psql("SHOW listen_addresses"), "127.0.0.1")
            pg.psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('kept ''quoted'' 🙂')")
            if os.geteuid() == 0:
                owner = os.stat(pg.data).st_uid
                self.assertNotEqual(owner, 0, "the cluster must not run as root")

            port = pg.port
            pg.restart("immediate")  # crash recovery on the same data and port
            self.assertEqual(pg.port, port)
            self.assertEqual(pg.psql("SELECT v FROM t"), "kept 'quoted' 🙂")

            pg.stop("fast")
            self.assertFalse(pg.running())
            with self.assertRaises(RuntimeError):
                pg.psql("SELECT 1")
            pg.start()
            url = pg.create_database("other")
            self.assertTrue(url.endswith("/other"))
            self.assertEqual(pg.psql("SELECT current_database()", db="other"), "other")
            with self.assertRaises(RuntimeError) as err:
                pg.psql("SELECT * FROM no_such_table")
            self.assertIn("no_such_table", str(err.exception))
        finally:
            pg.close()
        self.assertFalse(os.path.exists(pg.dir))
        self.assertFalse(pg.running())


if __name__ == "__main__":
    unittest.main()
