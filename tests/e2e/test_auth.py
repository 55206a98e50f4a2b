"""Accounts, JWT, profile, subscription, admin role checks."""
import base64
import json
import time
import unittest

import jwt as pyjwt  # Debian's python3-jwt: an independent JWT implementation

from harness import JWT_SECRET, Client, Confidant, ServerTestCase, register, unique_name


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Register(ServerTestCase):
    def test_register_returns_user_and_token(self):
        name = unique_name()
        r = self.client().post("/v1/auth/register", {"username": name, "password": "correct-horse-1"})
        self.assertEqual(r.status, 201, r.body)
        body = r.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertGreater(body["expires_in"], 0)
        u = body["user"]
        self.assertEqual(set(u), {"id", "username", "role", "display_name", "companion_persona", "is_premium",
                                  "premium_until", "created_at"})
        self.assertEqual(u["username"], name)
        self.assertEqual(u["role"], "user")
        self.assertIs(u["is_premium"], False)
        self.assertIsNone(u["premium_until"])
        self.assertRegex(u["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsInstance(u["id"], int)

    def test_duplicate_username_conflicts(self):
        name = unique_name()
        c = self.client()
        self.assertEqual(c.post("/v1/auth/register", {"username": name, "password": "correct-horse-1"}).status, 201)
        r = c.post("/v1/auth/register", {"username": name, "password": "other-password-2"})
        self.assertEqual(r.status, 409)
        self.assertEqual(r.error_code(), "conflict")

    def test_validation(self):
        c = self.client()
        cases = [
            {"password": "correct-horse-1"},                          # missing username
            {"username": unique_name()},                              # missing password
            {"username": 123, "password": "correct-horse-1"},         # wrong type
            {"username": "ab", "password": "correct-horse-1"},        # too short
            {"username": "a" * 33, "password": "correct-horse-1"},    # too long
            {"username": "bad name!", "password": "correct-horse-1"},  # bad characters
            {"username": unique_name(), "password": "short"},         # password too short
            {"username": unique_name(), "password": "p" * 129},       # password too long
            {"username": unique_name(), "password": ["x"] * 10},      # wrong type
        ]
        for body in cases:
            r = c.post("/v1/auth/register", body)
            self.assertEqual(r.status, 400, (body, r.body))
            self.assertEqual(r.error_code(), "bad_request")

    def test_password_length_counts_code_points(self):
        # 8 code points, 24 bytes: accepted; 128 emoji (512 bytes): accepted.
        self.assertEqual(self.client().post("/v1/auth/register", {"username": unique_name(), "password": "日本語日本語日本"}).status, 201)
        self.assertEqual(self.client().post("/v1/auth/register", {"username": unique_name(), "password": "😀" * 128}).status, 201)

    def test_role_in_body_is_ignored(self):
        r = self.client().post("/v1/auth/register", {"username": unique_name(), "password": "correct-horse-1",
                                                     "role": "admin", "is_premium": True})
        self.assertIn(r.status, (201, 400))
        if r.status == 201:
            self.assertEqual(r.json()["user"]["role"], "user")
            self.assertFalse(r.json()["user"]["is_premium"])


class Login(ServerTestCase):
    def test_login_ok_and_wrong_password(self):
        name = unique_name()
        c = self.client()
        register(c, name, "correct-horse-1")
        r = c.post("/v1/auth/login", {"username": name, "password": "correct-horse-1"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["user"]["username"], name)
        self.assertTrue(r.json()["access_token"])
        bad = c.post("/v1/auth/login", {"username": name, "password": "wrong-horse-1"})
        self.assertEqual(bad.status, 401)
        self.assertEqual(bad.error_code(), "unauthorized")
        nobody = c.post("/v1/auth/login", {"username": unique_name(), "password": "correct-horse-1"})
        self.assertEqual(nobody.status, 401)

    def test_login_missing_or_wrong_fields(self):
        c = self.client()
        for body in ({"username": "abc"}, {"password": "abcdefgh"}, {"username": 5, "password": "abcdefgh"}, {}):
            r = c.post("/v1/auth/login", body)
            self.assertEqual(r.status, 400, body)
            self.assertEqual(r.error_code(), "bad_request")


class Tokens(ServerTestCase):
    def setUp(self):
        self.token, self.user = register(self.client())

    def me(self, token):
        return Client(self.port, token).get("/v1/me")

    def test_token_verifies_with_independent_library(self):
        claims = pyjwt.decode(self.token, JWT_SECRET, algorithms=["HS256"])
        self.assertEqual(claims["sub"], str(self.user["id"]))
        self.assertEqual(claims["role"], "user")
        for k in ("iat", "exp", "jti"):
            self.assertIn(k, claims)
        self.assertEqual(pyjwt.get_unverified_header(self.token)["alg"], "HS256")

    def test_token_minted_by_independent_library_is_accepted(self):
        tok = pyjwt.encode({"sub": str(self.user["id"]), "role": "user", "iat": int(time.time()),
                            "exp": int(time.time()) + 60, "jti": "x1"}, JWT_SECRET, algorithm="HS256")
        self.assertEqual(self.me(tok).status, 200)

    def test_me(self):
        r = self.me(self.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["id"], self.user["id"])
        self.assertEqual(r.json()["username"], self.user["username"])

    def assert_401(self, token, what):
        r = self.me(token)
        self.assertEqual(r.status, 401, what)
        self.assertEqual(r.error_code(), "unauthorized", what)

    def test_no_token(self):
        r = self.client().get("/v1/me")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.error_code(), "unauthorized")
        r = self.client().get("/v1/me", headers={"Authorization": "Basic abc"})
        self.assertEqual(r.status, 401)

    def test_alg_none_refused(self):
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = self.token.split(".")[1]
        self.assert_401(f"{header}.{payload}.", "alg none")
        self.assert_401(f"{header}.{payload}", "alg none, two segments")

    def test_other_alg_refused(self):
        tok = pyjwt.encode({"sub": str(self.user["id"]), "role": "user", "exp": int(time.time()) + 60}, JWT_SECRET,
                           algorithm="HS512")
        self.assert_401(tok, "HS512")

    def test_changed_payload_refused(self):
        h, p, s = self.token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        claims["role"] = "admin"
        self.assert_401(f"{h}.{b64url(json.dumps(claims).encode())}.{s}", "changed payload")

    def test_flipped_signature_refused(self):
        h, p, s = self.token.split(".")
        sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        sig[0] ^= 1
        self.assert_401(f"{h}.{p}.{b64url(bytes(sig))}", "flipped signature")

    def test_expired_refused(self):
        tok = pyjwt.encode({"sub": str(self.user["id"]), "role": "user", "exp": int(time.time()) - 120}, JWT_SECRET,
                           algorithm="HS256")
        self.assert_401(tok, "expired")

    def test_missing_exp_refused(self):
        tok = pyjwt.encode({"sub": str(self.user["id"]), "role": "user"}, JWT_SECRET, algorithm="HS256")
        self.assert_401(tok, "no exp")

    def test_other_secret_refused(self):
        tok = pyjwt.encode({"sub": str(self.user["id"]), "role": "user", "exp": int(time.time()) + 60},
                           "another-secret-entirely-0123456789", algorithm="HS256")
        self.assert_401(tok, "other secret")

    def test_unknown_user_refused(self):
        tok = pyjwt.encode({"sub": "987654321", "role": "user", "exp": int(time.time()) + 60}, JWT_SECRET,
                           algorithm="HS256")
        self.assert_401(tok, "unknown user")

    def test_garbage_refused(self):
        for t in ("abc", "a.b.c", "....", "x" * 5000):
            self.assert_401(t, t[:10])


class Profile(ServerTestCase):
    def test_patch_me_updates_and_ignores_forbidden_fields(self):
        token, user = register(self.client())
        c = self.client(token)
        self.assertEqual(c.get("/v1/me").json()["display_name"], user["username"])  # cached now
        r = c.patch("/v1/me", {"display_name": "Ada", "companion_persona": "A calm librarian.", "role": "admin",
                               "is_premium": True, "id": 1})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["display_name"], "Ada")
        self.assertEqual(r.json()["role"], "user")
        self.assertFalse(r.json()["is_premium"])
        me = c.get("/v1/me").json()  # the cached profile was invalidated
        self.assertEqual(me["display_name"], "Ada")
        self.assertEqual(me["companion_persona"], "A calm librarian.")
        self.assertEqual(me["id"], user["id"])

    def test_patch_me_validation(self):
        token, _ = register(self.client())
        c = self.client(token)
        for body in ({"display_name": 5}, {"companion_persona": ["x"]}, {"display_name": "x" * 65}):
            r = c.patch("/v1/me", body)
            self.assertEqual(r.status, 400, body)
            self.assertEqual(r.error_code(), "bad_request")
        self.assertEqual(c.patch("/v1/me", raw=b"{bad", headers={"Content-Type": "application/json"}).status, 400)
        self.assertEqual(self.client().patch("/v1/me", {"display_name": "x"}).status, 401)

    def test_subscription(self):
        token, _ = register(self.client())
        r = self.client(token).get("/v1/subscription")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"plan": "free", "premium_until": None, "messages_per_day": 50, "used_today": 0})
        self.assertEqual(self.client().get("/v1/subscription").status, 401)


class Admin(ServerTestCase):
    env = {"ADMIN_USERNAME": "root_admin", "ADMIN_PASSWORD": "admin-password-1", "ADMIN_RATE_LIMIT_PER_MINUTE": "1000"}

    def admin_token(self):
        r = self.client().post("/v1/auth/login", {"username": "root_admin", "password": "admin-password-1"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["user"]["role"], "admin")
        return r.json()["access_token"]

    def test_admin_bootstrap_and_role_checks(self):
        admin = self.admin_token()
        user_token, _ = register(self.client())
        self.assertEqual(self.client(admin).get("/admin/circuit_breakers").status, 200)
        r = self.client(user_token).get("/admin/circuit_breakers")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.error_code(), "forbidden")
        r = self.client().get("/admin/circuit_breakers")
        self.assertEqual(r.status, 401)
        # A user who forges role=admin in a token signed with the right secret is still a user.
        forged = pyjwt.encode({"sub": pyjwt.decode(user_token, JWT_SECRET, algorithms=["HS256"])["sub"], "role": "admin",
                               "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
        self.assertEqual(self.client(forged).get("/admin/circuit_breakers").status, 403)

    def test_premium_grant_and_revoke(self):
        admin = self.client(self.admin_token())
        token, user = register(self.client())
        c = self.client(token)
        self.assertFalse(c.get("/v1/me").json()["is_premium"])  # cached as free
        r = admin.post(f"/admin/users/{user['id']}/premium", {"days": 30})
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["is_premium"])
        self.assertTrue(c.get("/v1/me").json()["is_premium"])  # invalidated
        sub = c.get("/v1/subscription").json()
        self.assertEqual(sub["plan"], "premium")
        self.assertEqual(sub["messages_per_day"], 1000)
        self.assertIsNotNone(sub["premium_until"])
        r = admin.post(f"/admin/users/{user['id']}/premium", {"until": "2099-01-01T00:00:00Z"})
        self.assertEqual(r.json()["premium_until"], "2099-01-01T00:00:00Z")
        r = admin.delete(f"/admin/users/{user['id']}/premium")
        self.assertEqual(r.status, 200)
        self.assertFalse(r.json()["is_premium"])
        self.assertFalse(c.get("/v1/me").json()["is_premium"])
        for body in ({}, {"days": 0}, {"days": "x"}, {"until": "yesterday"}, {"until": "2001-01-01T00:00:00Z"},
                     {"days": 1, "until": "2099-01-01T00:00:00Z"}):
            self.assertEqual(admin.post(f"/admin/users/{user['id']}/premium", body).status, 400, body)
        self.assertEqual(admin.post("/admin/users/99999999/premium", {"days": 1}).status, 404)
        self.assertEqual(admin.delete("/admin/users/abc/premium").status, 404)


class AdminRateLimit(ServerTestCase):
    env = {"ADMIN_USERNAME": "root_admin", "ADMIN_PASSWORD": "admin-password-1", "ADMIN_RATE_LIMIT_PER_MINUTE": "3"}

    def test_admin_rate_limit(self):
        r = self.client().post("/v1/auth/login", {"username": "root_admin", "password": "admin-password-1"})
        admin = self.client(r.json()["access_token"])
        statuses = [admin.get("/admin/circuit_breakers").status for _ in range(5)]
        self.assertEqual(statuses[:3], [200, 200, 200])
        self.assertEqual(statuses[3:], [429, 429])
        r = admin.get("/admin/circuit_breakers")
        self.assertEqual(r.error_code(), "rate_limited")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)


if __name__ == "__main__":
    unittest.main()
