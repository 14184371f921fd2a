"""
test_badinput_auth.py: hostile input from an authenticated, certified device.

Over `casus raw` (a real, authenticated session that sends requests as they
are): malformed documents, wrong types, huge lengths, unknown request types,
a message signed by another device, a replayed message, a message for an epoch
that a removal closed, and commits the policy forbids. Every one gets its
error code, the session stays usable, and other clients keep working.

Forbidden commits cannot be built by the real client (it refuses locally), so
the test forges them honestly: it copies the store, starts a second casusd on
the copy with a policy (signed by the same root, higher number) that allows
the change, lets a copy of the member's profile make the commit there, and
fetches the bytes. The real server, still on its own policy and store, must
refuse those exact bytes.
"""
import base64
import json
import os
import shutil
import tempfile

import harness
from casus_util import code, header, raw, raw_history

DEFAULT_POLICY = os.path.join(harness.SRC, "deploy", "policy", "default.json")


class AuthenticatedBadInput(harness.CasusTest):

    def setUp(self):
        super().setUp()
        self.cid = self.new_casus("anna", ("esther", "gijs"))

    def well_behaved(self, text):
        """Another client posting and reading while (and after) the bad input goes on."""
        self.dep.ok("gijs", "post", self.cid, text)
        self.assertIn(text, self.texts("anna", self.cid))

    def codes(self, user, reqs):
        rc, resps, _ = raw(self.dep, user, reqs)
        self.assertEqual(len(resps), len(reqs), (rc, resps))
        return [code(r) for r in resps]

    def test_malformed_and_wrong_types(self):
        cid = self.cid
        other = "0" * 32
        cases = [
            ({"type": "history"}, "bad_request"),                                  # no casus
            ({"type": "history", "casus": 123}, "bad_request"),                    # number for an id
            ({"type": "history", "casus": "zz" * 16}, "bad_request"),              # not hex
            ({"type": "history", "casus": cid[:30]}, "bad_request"),               # too short
            ({"type": "history", "casus": cid, "after": "1"}, "bad_request"),      # string for a number
            ({"type": "history", "casus": cid, "after": -1}, "bad_request"),       # negative
            ({"type": "history", "casus": cid, "after": 1.5}, "bad_request"),      # real
            ({"type": "history", "casus": cid, "limit": 501}, "bad_request"),      # over the page max
            ({"type": "history", "casus": cid, "limit": 2 ** 62}, "bad_request"),
            ({"type": "history", "casus": cid, "after": [1]}, "bad_request"),
            ({"type": "history", "casus": other}, "not_found"),
            ({"type": "msg.post", "casus": cid}, "bad_request"),                   # no msg
            ({"type": "msg.post", "casus": cid, "msg": 42}, "bad_request"),
            ({"type": "msg.post", "casus": cid, "msg": "!!not base64!!"}, "bad_request"),
            ({"type": "msg.post", "casus": cid, "msg": "QUJD"}, "invalid"),         # "ABC": no message
            ({"type": "msg.post", "casus": cid, "msg": {"a": 1}}, "bad_request"),
            ({"type": "commit.post", "casus": cid, "commit": "QUJD"}, "invalid"),
            ({"type": "commit.post", "casus": cid, "commit": None}, "bad_request"),
            ({"type": "commit.post", "casus": other, "commit": "QUJD"}, "not_found"),
            ({"type": "commit.fetch", "casus": cid, "from": "x"}, "bad_request"),
            ({"type": "commit.fetch", "casus": cid, "from": 2 ** 40}, "bad_request"),
            ({"type": "grant.post", "casus": cid, "grant": "QUJD"}, "invalid"),
            ({"type": "grant.post", "casus": cid}, "bad_request"),
            ({"type": "casus.create", "commit": "QUJD"}, "bad_request"),            # no purpose/basis
            ({"type": "casus.create", "commit": "QUJD", "purpose": "", "basis": "b"}, "bad_request"),
            ({"type": "casus.create", "commit": "QUJD", "purpose": "p", "basis": "b"}, "invalid"),
            ({"type": "casus.create", "commit": "QUJD", "purpose": "p" * 300, "basis": "b"}, "bad_request"),
            ({"type": "casus.read", "casus": cid, "seq": "1"}, "bad_request"),
            ({"type": "casus.read", "casus": other, "seq": 1}, "forbidden"),
            ({"type": "dir.lookup"}, "bad_request"),
            ({"type": "dir.lookup", "user": ""}, "bad_request"),
            ({"type": "dir.lookup", "user": "x" * 5000}, "bad_request"),
            ({"type": "dir.publish", "cert": "QUJD"}, "invalid"),
            ({"type": "audit.query", "limit": "10"}, "bad_request"),
            ({"type": "hello", "version": 1}, "bad_request"),                      # already authenticated
            ({"type": "auth", "cert": "QUJD", "sig": "QUJD"}, "bad_request"),
            ({"type": "casus.delete", "casus": cid}, "unknown_type"),
            ({"type": "admin.dump"}, "unknown_type"),
            ({"type": ""}, "unknown_type"),
            ({"type": 7}, "bad_request"),
            ({"type": "ping"}, "ok"),
        ]
        got = self.codes("anna", [c[0] for c in cases])
        self.assertEqual([(c[0]["type"], g) for c, g in zip(cases, got)], [(c[0]["type"], c[1]) for c in cases])
        self.well_behaved("na foute velden")
        # the session that sent them still works
        rc, resps, _ = raw(self.dep, "anna", [{"type": "admin.dump"}, {"type": "history", "casus": cid}])
        self.assertEqual(code(resps[0]), "unknown_type")
        self.assertTrue(resps[1]["ok"])

    def test_huge_lengths(self):
        cid = self.cid
        big = base64.b64encode(os.urandom(150 * 1024)).decode()  # a 200 KB base64 field
        cases = [
            ({"type": "msg.post", "casus": cid, "msg": big}, "invalid"),
            ({"type": "commit.post", "casus": cid, "commit": big}, "invalid"),
            ({"type": "grant.post", "casus": cid, "grant": big}, "invalid"),
            ({"type": "dir.publish", "cert": big}, "bad_request"),
            ({"type": "casus.create", "commit": big, "purpose": "p", "basis": "b"}, "invalid"),
            ({"type": "dir.lookup", "user": "u" * (200 * 1024)}, "bad_request"),
            ({"type": "history", "casus": cid, "limit": 10 ** 9}, "bad_request"),
            ({"type": "audit.query", "limit": 10 ** 9}, "bad_request"),
            ({"type": "history", "casus": cid, "pad": "x" * (200 * 1024)}, "ok"),   # unknown fields are ignored
        ]
        got = self.codes("anna", [c[0] for c in cases])
        self.assertEqual([(c[0]["type"], g) for c, g in zip(cases, got)], [(c[0]["type"], c[1]) for c in cases])
        # a frame over the limit closes only that connection
        rc, resps, _ = raw(self.dep, "anna", [{"type": "ping", "pad": "x" * (300 * 1024)}, {"type": "ping"}])
        self.assertNotEqual(rc, 0)
        self.assertEqual(resps[0]["error"]["code"], "network", resps)
        self.well_behaved("na grote velden")

    def test_message_signed_by_another_device(self):
        out = self.dep.ok("anna", "post", self.cid, "van anna")
        msgs = raw_history(self.dep, "anna", self.cid)["messages"]
        blob = [m for m in msgs if m["seq"] == out["seq"]][0]["msg"]
        self.assertEqual(header(blob)["id"], out["id"])
        # gijs (a member) and peter (not one) post anna's bytes as their own
        for user in ("gijs", "peter", "esther"):
            got = self.codes(user, [{"type": "msg.post", "casus": self.cid, "msg": blob}])
            self.assertEqual(got, ["forbidden"], user)
        # one byte changed in anna's signed message: the signature no longer holds
        b = bytearray(base64.b64decode(blob))
        b[120] ^= 1
        got = self.codes("anna", [{"type": "msg.post", "casus": self.cid, "msg": base64.b64encode(bytes(b)).decode()}])
        self.assertIn(got[0], ("bad_signature", "invalid"))
        # the casus id in the request and in the header differ
        cid2 = self.new_casus("anna", ("gijs",))
        got = self.codes("anna", [{"type": "msg.post", "casus": cid2, "msg": blob}])
        self.assertEqual(got, ["invalid"])
        self.assertEqual(self.texts("gijs", self.cid).count("van anna"), 1)
        self.well_behaved("na vreemde handtekening")

    def test_replay_and_stale_epoch(self):
        out = self.dep.ok("anna", "post", self.cid, "eenmalig")
        blob = [m for m in raw_history(self.dep, "anna", self.cid)["messages"] if m["seq"] == out["seq"]][0]["msg"]
        self.assertEqual(header(blob)["id"], out["id"])
        # the same bytes again: a replay
        self.assertEqual(self.codes("anna", [{"type": "msg.post", "casus": self.cid, "msg": blob}] * 2),
                         ["duplicate", "duplicate"])
        self.assertEqual(self.texts("gijs", self.cid).count("eenmalig"), 1)
        # a message encoded at epoch e, posted after a removal moved the casus to e+1
        out2 = self.dep.ok("esther", "post", self.cid, "voor de verwijdering")
        blob2 = [m for m in raw_history(self.dep, "anna", self.cid)["messages"] if m["seq"] == out2["seq"]][0]["msg"]
        epoch = header(blob2)["epoch"]
        self.dep.ok("anna", "remove", self.cid, "gijs", "--reason", "vertrokken")
        self.assertEqual(self.dep.ok("anna", "members", self.cid)["epoch"], epoch + 1)
        got = self.codes("esther", [{"type": "msg.post", "casus": self.cid, "msg": blob2}])
        self.assertEqual(got, ["stale_epoch"])
        got = self.codes("anna", [{"type": "msg.post", "casus": self.cid, "msg": blob}])
        self.assertEqual(got, ["stale_epoch"])
        # the removed member's old bytes: it is no longer a member
        rc, resps, _ = raw(self.dep, "gijs", [{"type": "msg.post", "casus": self.cid, "msg": blob}])
        self.assertIn(code(resps[0]), ("forbidden", "stale_epoch"))
        # the client itself re-encrypts at the new epoch
        self.dep.ok("esther", "post", self.cid, "na de verwijdering")
        self.assertIn("na de verwijdering", self.texts("anna", self.cid))
        self.assertEqual(self.texts("anna", self.cid).count("voor de verwijdering"), 1)


class ForgedCommits(harness.CasusTest):
    """Commits (and a message) the policy forbids, forged under a permissive policy
    on a copy of the store and replayed to the real server."""

    def permissive_policy(self):
        with open(DEFAULT_POLICY) as f:
            data = json.load(f)
        # the same number as the deployment's policy: a commit names the policy
        # number it was made under, and casusd refuses any other number as
        # `invalid` before it looks at the rights; these forgeries must reach
        # the rights check (the forging profile holds no policy, so it takes this one)
        for r in data["roles"]:
            if r["name"] in ("casemanager", "ervaringsdeskundige"):
                r.update({"may_add": True, "may_remove": True, "escalate_max": 5, "may_deescalate": True,
                          "may_grant": True})
            if r["name"] in ("politie", "bestuur", "ketenpartner"):
                r["min_level"] = 1
        for a in data["audiences"]:
            a["ground_required"] = False
        fd, src = tempfile.mkstemp(suffix=".json", dir=self.dep.dir)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        out = src[:-5] + ".bin"
        self.dep.admin("sign-policy", "--keystore", self.dep.root_ks, "--policy", src, "--out", out)
        return out

    def forge(self, user, *args, fetch="commit"):
        """Run `casus ARGS` as a copy of user's profile against a casusd on a copy of the
        store under the permissive policy; return the bytes it stored (last commit or message)."""
        real = self.srv
        real.stop()
        data2 = tempfile.mkdtemp(prefix="forge-", dir=self.dep.dir)
        shutil.rmtree(data2)
        shutil.copytree(real.data, data2)
        prof = self.dep.users[user]
        fprof = prof + "-forge"
        shutil.rmtree(fprof, ignore_errors=True)
        shutil.copytree(prof, fprof)
        for f in ("policy.bin",):
            if os.path.exists(os.path.join(fprof, f)):
                os.unlink(os.path.join(fprof, f))
        self.dep.users[user + "-forge"] = fprof
        self.dep.port = harness.free_port()
        self.dep.set_server_url()
        forge_srv = harness.Server(self.dep, {"policy": self.pol2}, data_dir=data2).start()
        try:
            self.dep.ok(user + "-forge", *args)
            if fetch == "commit":
                rc, resps, _ = raw(self.dep, user + "-forge", [{"type": "commit.fetch", "casus": self.cid}])
                blob = resps[0]["commits"][-1]["commit"]
            else:
                blob = raw_history(self.dep, user + "-forge", self.cid)["messages"][-1]["msg"]
        finally:
            forge_srv.stop()
            del self.dep.users[user + "-forge"]
            shutil.rmtree(fprof, ignore_errors=True)
        self.dep.port = harness.free_port()
        self.dep.set_server_url()
        self.srv = harness.Server(self.dep, None, data_dir=real.data).start()
        return blob

    def setUp(self):
        super().setUp()
        if not getattr(type(self), "pol2", None):
            type(self).pol2 = self.permissive_policy()
        self.cid = self.new_casus("anna", ("esther", "gijs"))

    def post_commit(self, user, blob):
        rc, resps, _ = raw(self.dep, user, [{"type": "commit.post", "casus": self.cid, "commit": blob}])
        return code(resps[0])

    def unchanged(self, level, users):
        m = self.dep.ok("anna", "members", self.cid)
        self.assertEqual(m["level"], level)
        self.assertEqual(sorted(x["user"] for x in m["members"]), sorted(users))
        self.dep.ok("gijs", "post", self.cid, "werkt nog")
        self.assertIn("werkt nog", self.texts("esther", self.cid))

    def test_forbidden_commits_are_refused_by_the_server(self):
        esc = self.forge("esther", "escalate", self.cid, "2", "--reason", "ervaringsdeskundige escaleert")
        add = self.forge("esther", "add", self.cid, "karel")
        rem = self.forge("esther", "remove", self.cid, "gijs")
        high = self.forge("anna", "escalate", self.cid, "4", "--reason", "te hoog")
        ladder = self.forge("anna", "add", self.cid, "peter")
        self.assertEqual(self.post_commit("esther", esc), "forbidden")     # ervaringsdeskundige may not escalate
        self.assertEqual(self.post_commit("esther", add), "forbidden")     # nor add
        self.assertEqual(self.post_commit("esther", rem), "forbidden")     # nor remove someone else
        self.assertEqual(self.post_commit("anna", high), "forbidden")      # casemanager only up to 3
        self.assertIn(self.post_commit("anna", ladder), ("invalid", "forbidden"))  # politie not at level 1
        # someone else's commit posted by gijs
        self.assertEqual(self.post_commit("gijs", esc), "forbidden")
        self.unchanged(1, ["anna", "esther", "gijs"])
        # the same commit under the real policy, made by the real client, is fine for anna
        self.dep.ok("anna", "escalate", self.cid, "2", "--reason", "echt")

    def test_ground_rule_is_enforced_by_the_server(self):
        self.dep.ok("anna", "escalate", self.cid, "3", "--reason", "stagnatie")
        self.dep.ok("anna", "add", self.cid, "paula")
        blob = self.forge("esther", "post", self.cid, "--audience", "overleg", "zonder grond, vervalst",
                          fetch="msg")
        h = header(blob)
        self.assertEqual((h["audience"], h["ground"]), (1, 0))
        rc, resps, _ = raw(self.dep, "esther", [{"type": "msg.post", "casus": self.cid, "msg": blob}])
        self.assertEqual(code(resps[0]), "ground_required")
        self.assertNotIn("zonder grond, vervalst", self.texts("paula", self.cid))
        self.unchanged(3, ["anna", "esther", "gijs", "paula"])


if __name__ == "__main__":
    harness.main()
