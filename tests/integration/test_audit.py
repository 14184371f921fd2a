"""
test_audit.py: the audit trail end to end (issue 7).

Every action leaves its entry with the right fields; refused actions leave a
`denied` entry; reading the trail is itself audited and restricted; the
privacy officer's verifier (`casus audit verify`, on a JSON-lines export and
on a hot backup of the store) accepts the untouched trail and names the first
bad entry of a tampered one; no entry holds message content; a SIGKILL under
load loses no acknowledged action's entry; pruning keeps the rest verifiable
from a signed anchor.

Tampering with a copy of the store uses mdb_dump / mdb_load (lmdb-utils).
"""
import base64
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import harness
import rawws

FAULT_EXIT = 5


def run(*args, check=True, timeout=120):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (args[:2], p.returncode, p.stdout, p.stderr))
    return p


# ---- LMDB copies: dump, edit, load -----------------------------------------------

def dump_store(path):
    """{db name: [(key bytes, value bytes)]} plus the raw sections for reloading."""
    text = run("mdb_dump", "-a", path).stdout
    sections, cur = [], None
    for line in text.splitlines():
        if cur is None:
            cur = {"header": [], "pairs": [], "name": None, "in_data": False, "pending": None}
        if not cur["in_data"]:
            cur["header"].append(line)
            if line.startswith("database="):
                cur["name"] = line[len("database="):]
            if line == "HEADER=END":
                cur["in_data"] = True
            continue
        if line == "DATA=END":
            sections.append(cur)
            cur = None
            continue
        b = bytes.fromhex(line.strip())
        if cur["pending"] is None:
            cur["pending"] = b
        else:
            cur["pairs"].append((cur["pending"], b))
            cur["pending"] = None
    return sections


def load_store(sections, dest):
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    lines = []
    for s in sections:
        lines += s["header"]
        for k, v in s["pairs"]:
            lines.append(" " + k.hex())
            lines.append(" " + v.hex())
        lines.append("DATA=END")
    dumpf = dest + ".dump"
    with open(dumpf, "w") as f:
        f.write("\n".join(lines) + "\n")
    # -a is not an mdb_load flag: each section's "database=" header names its db
    run("mdb_load", "-f", dumpf, dest)
    os.unlink(dumpf)


def section(sections, name):
    for s in sections:
        if s["name"] == name:
            return s
    raise AssertionError("no database %s in the dump" % name)


def seq_of(key):
    return int.from_bytes(key, "big")


class Audit(harness.CasusTest):
    # a case manager that only the crash test uses: a post cut off by the
    # SIGKILL stays in that profile's outbox and must not leak into the other
    # tests
    users = harness.DEFAULT_USERS + [("loes", "casemanager", "Loes Post", "Leger des Heils")]
    # frequent checkpoints so that the trail has several
    config = {"audit": {"checkpoint_every": 5, "checkpoint_secs": 1}}

    # ---- helpers ---------------------------------------------------------------

    def audit_key(self):
        """First-time pinning: the server's key, compared out of band with DATA/audit.pub."""
        k = self.dep.ok("fenna", "audit", "key")["audit_key"]
        with open(os.path.join(self.srv.data, "audit.pub")) as f:
            self.assertEqual(f.read().strip(), k)
        return k

    def trail(self, *args, user="fenna"):
        out = self.dep.ok(user, "audit", "--key", self.key, *args)
        if user == "fenna":
            self.assertTrue(out["verified"], out)
            self.assertTrue(out["key_pinned"])
        return out["entries"]

    def find(self, entries, **want):
        hits = [e for e in entries if all(e.get(k) == v for k, v in want.items())]
        self.assertTrue(hits, "no entry with %s; have:\n%s" % (
            want, "\n".join("%s %s %s %s %s" % (e["seq"], e["event"], e["outcome"], e["user"], e["object"])
                            for e in entries[-40:])))
        return hits

    def raw(self, user, *reqs):
        lines = "".join(json.dumps(r) + "\n" for r in reqs)
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users[user], "raw"], env=self.dep.env,
                           capture_output=True, text=True, input=lines, timeout=60)
        return [json.loads(x) for x in p.stdout.splitlines() if x.strip() and '"push"' not in x]

    def backup(self, name="bk"):
        out = os.path.join(self.dep.dir, "%s-%s" % (name, uuid.uuid4().hex[:8]))
        run(harness.CASUSD, "backup", "--data", self.srv.data, "--out", out)
        return out

    def verify(self, *args, expect_ok=True):
        rc, out, err = self.dep.cli("fenna", "audit", "verify", *args, "--key", self.key)
        if expect_ok:
            self.assertEqual(rc, 0, (out, err))
            self.assertTrue(out["verified"], out)
        else:
            self.assertEqual(rc, FAULT_EXIT, (out, err))
            self.assertFalse(out["verified"], out)
        return out

    def setUp(self):
        super().setUp()
        self.key = self.audit_key()

    # ---- 1. every action leaves its entry ----------------------------------------

    def test_actions_leave_entries(self):
        cid = self.new_casus(purpose="Zorgcoordinatie mevrouw A", basis="Wmo 2015 art. 2.3.2")
        marker = "ACTIE-" + uuid.uuid4().hex
        post = self.dep.ok("anna", "post", cid, marker)
        self.assertIn(marker, self.texts("gijs", cid))
        self.dep.ok("anna", "escalate", cid, "2", "--reason", "zorgen nemen toe")
        self.dep.ok("anna", "add", cid, "karel")
        self.dep.ok("anna", "share", cid, "--to", "karel", "--messages", post["id"], "--ground", "consent",
                    "--reason", "client stemt in")
        self.texts("karel", cid)  # grant fetch
        self.dep.ok("anna", "remove", cid, "karel", "--reason", "niet meer betrokken")
        self.dep.ok("anna", "deescalate", cid, "1", "--reason", "situatie stabiel")
        # break-glass: the process director admits the police outside the ladder
        cid2 = self.dep.ok("anna", "new", "--title", "Meneer B.", "--purpose", "Veiligheid", "--basis",
                           "Wet publieke gezondheid", "--level", "3", "--member", "paula")["casus"]
        self.dep.ok("paula", "add", cid2, "peter", "--break-glass", "acute dreiging, geen tijd voor overleg")
        # refused requests of several kinds
        r = self.raw("peter", {"type": "history", "casus": cid}, {"type": "commit.fetch", "casus": cid},
                     {"type": "no.such.request"})
        self.assertTrue(all(not x["ok"] for x in r), r)
        rc, _, _ = self.dep.cli("bea", "audit")
        self.assertNotEqual(rc, 0)
        # a refused authentication: anna's certificate with a wrong signature
        with open(os.path.join(self.dep.users["anna"], "device.cert"), "rb") as f:
            cert = base64.b64encode(f.read()).decode()

        async def bad_auth(ws):
            await rawws.request(ws, {"id": 1, "type": "hello", "version": 1})
            return await rawws.request(ws, {"id": 2, "type": "auth", "cert": cert,
                                            "sig": base64.b64encode(bytes(64)).decode()})
        resp = rawws.run(self.dep.url, bad_auth)
        self.assertFalse(resp["ok"])

        es = self.trail()
        # authentication, ok and refused
        a = self.find(es, event="auth", outcome="success", user="anna", role="casemanager", org="Leger des Heils")
        self.assertTrue(a[0]["access_point"].startswith("127.0.0.1"), a[0])
        bad = self.find(es, event="auth", outcome="denied", user="anna")
        self.assertTrue(bad[0]["error"])
        # casus create with purpose and legal basis
        c = self.find(es, event="casus_create", casus=cid, outcome="success")[0]
        self.assertEqual((c["user"], c["role"], c["purpose"], c["legal_basis"]),
                         ("anna", "casemanager", "Zorgcoordinatie mevrouw A", "Wmo 2015 art. 2.3.2"))
        # the post: message id, seq, audience
        p = self.find(es, event="message_post", casus=cid, user="anna", seq_from=post["seq"])[0]
        self.assertEqual(p["msg_ids"], [post["id"]])
        self.assertEqual((p["seq_from"], p["seq_to"]), (post["seq"], post["seq"]))
        self.assertIn("audience", p["object"])
        self.assertEqual(p["purpose"], "Zorgcoordinatie mevrouw A")
        # reads: history and key/commit fetches, with ranges
        h = self.find(es, event="history_fetch", casus=cid, user="gijs", role="ggd", outcome="success")
        self.assertTrue(any(x["seq_from"] <= post["seq"] <= x["seq_to"] for x in h), h)
        self.find(es, event="key_fetch", casus=cid, user="gijs", outcome="success")
        # membership and level changes
        lv = self.find(es, event="commit_level", casus=cid, user="anna")
        self.assertTrue(any(x["level_prev"] == 1 and x["level"] == 2 for x in lv), lv)
        self.assertTrue(any(x["level_prev"] == 2 and x["level"] == 1 for x in lv), lv)
        # commit reasons are the members' text: the server keeps none of it in the trail
        self.assertFalse([x for x in es if x["reason"] in ("zorgen nemen toe", "situatie stabiel",
                                                            "niet meer betrokken",
                                                            "acute dreiging, geen tijd voor overleg")], es)
        self.find(es, event="commit_add", casus=cid, user="anna", outcome="success")
        rm = self.find(es, event="commit_remove", casus=cid, user="anna")
        self.assertEqual(rm[0]["reason"], "")
        bg = self.find(es, event="commit_break_glass", casus=cid2, user="paula", role="procesregisseur")[0]
        self.assertTrue(bg["break_glass"])
        self.assertEqual(bg["reason"], "")
        self.assertFalse(any(x["break_glass"] for x in es if x["event"] == "commit_add"))
        # sharing onward: grant with message ids and ground, and its fetch
        g = self.find(es, event="grant", casus=cid, user="anna")[0]
        self.assertEqual(g["msg_ids"], [post["id"]])
        self.assertEqual(g["ground"], "consent")
        self.find(es, event="grant_fetch", casus=cid, user="karel", role="ketenpartner")
        # refused requests leave denied entries
        d = self.find(es, event="history_fetch", casus=cid, user="peter", outcome="denied")[0]
        self.assertEqual(d["role"], "politie")
        self.assertEqual(d["error"], "forbidden")
        self.find(es, event="key_fetch", casus=cid, user="peter", outcome="denied")
        self.find(es, event="request_denied", user="peter", outcome="denied")
        self.find(es, event="audit_query", user="bea", role="beleid", outcome="denied")
        # reading the trail is itself audited (the query above shows in the next one)
        es2 = self.trail()
        self.find(es2, event="audit_query", user="fenna", role="fg", outcome="success")
        self.assertGreater(len(es2), len(es))

    def test_refusals_before_authentication_are_audited(self):
        """Denied attempts leave entries even when no one is logged in: a request
        before auth, a frame without a type, a frame that is not JSON."""
        async def unauth(ws):
            out = [await rawws.request(ws, {"id": 1, "type": "casus.list"}),
                   await rawws.request(ws, {"id": 2, "kind": "no type"})]
            await ws.send("not json at all")
            code, reason, frames = await rawws.closed_with(ws)
            return out, code
        out, code = rawws.run(self.dep.url, unauth)
        self.assertEqual([o["error"]["code"] for o in out], ["unauthenticated", "bad_request"])
        self.assertEqual(code, 1007)
        es = self.trail()
        denied = [e for e in es if e["event"] == "request_denied" and e["user"] == ""]
        self.assertTrue(any(e["error"] == "unauthenticated" and "casus.list" in e["object"] for e in denied),
                        denied)
        self.assertGreaterEqual(len([e for e in denied if e["error"] == "bad_request"]), 2, denied)
        self.assertTrue(all(e["access_point"].startswith("127.0.0.1") for e in denied), denied)
        self.assertTrue(all(e["outcome"] == "denied" for e in denied), denied)

    # ---- 2. who may read the trail --------------------------------------------------

    def test_query_rights(self):
        cid = self.new_casus()
        cid2 = self.dep.ok("anna", "new", "--title", "Meneer B.", "--purpose", "Veiligheid", "--basis",
                           "Wet publieke gezondheid", "--level", "3", "--member", "paula")["casus"]
        self.dep.ok("anna", "post", cid2, "iets voor de regie")
        for user in ("anna", "bea", "gijs"):
            rc, out, err = self.dep.cli(user, "audit")
            self.assertEqual(rc, 1, (user, out, err))
            self.assertEqual(out["error"]["code"], "forbidden", out)
        # paula: only the casus she is a member of
        rc, out, _ = self.dep.cli("paula", "audit", "--casus", cid)
        self.assertEqual(rc, 1, out)
        rc, out, _ = self.dep.cli("paula", "audit")
        self.assertEqual(rc, 1, out)
        own = self.dep.ok("paula", "audit", "--key", self.key, "--casus", cid2)
        self.assertFalse(own["verified"])  # a part of the trail cannot be chained
        self.assertEqual(own["scope"], "casus")
        self.assertTrue(own["entries"])
        self.assertTrue(all(e["casus"] == cid2 for e in own["entries"]))
        self.find(own["entries"], event="message_post", user="anna")
        es = self.trail()
        for user in ("anna", "bea", "gijs"):
            self.find(es, event="audit_query", user=user, outcome="denied")
        self.find(es, event="audit_query", user="paula", outcome="denied", casus=cid)
        self.find(es, event="audit_query", user="paula", outcome="success", casus=cid2)
        # the fg's filters work on the verified trail
        mine = self.trail("--casus", cid, "--user", "anna")
        self.assertTrue(mine)
        self.assertTrue(all(e["casus"] == cid and e["user"] == "anna" for e in mine))

    # ---- 3. data-subject report and exports -------------------------------------------

    def test_report_and_exports_hold_no_content(self):
        cid = self.new_casus()
        marker = "GEHEIM-" + uuid.uuid4().hex
        for i in range(3):
            self.dep.ok("anna", "post", cid, "%s bericht %d" % (marker, i))
        self.assertIn(marker + " bericht 0", self.texts("gijs", cid))
        d = self.dep.dir
        jl, csv, html, rj = (os.path.join(d, "exp-%s.%s" % (uuid.uuid4().hex[:6], x))
                             for x in ("jsonl", "csv", "html", "json"))
        out = self.dep.ok("fenna", "audit", "export", "--format", "jsonl", "--out", jl, "--key", self.key)
        self.assertTrue(out["verified"])
        self.assertFalse(out["filtered"])
        self.dep.ok("fenna", "audit", "export", "--format", "csv", "--out", csv, "--key", self.key)
        rep = self.dep.ok("fenna", "audit", "report", cid, "--html", html, "--json", rj, "--key", self.key)
        self.assertTrue(rep["verified"])
        self.verify(jl)
        with open(rj) as f:
            report = json.load(f)
        rows = report["rows"]
        self.assertTrue(rows)
        orgs = {r["organisation"] for r in rows}
        self.assertIn("GGD", orgs)
        self.assertIn("Leger des Heils", orgs)
        self.assertTrue(all("break_glass" in r and r["time"] for r in rows))
        self.assertEqual([r["time"] for r in rows], sorted(r["time"] for r in rows))
        with open(html) as f:
            self.assertIn("GGD", f.read())
        # the offline export of the server (casusd audit-export) verifies too
        off = os.path.join(d, "offline-%s.jsonl" % uuid.uuid4().hex[:6])
        run(harness.CASUSD, "audit-export", "--data", self.srv.data, "--out", off)
        self.verify(off)
        # the trail shows the exports
        es = self.trail()
        self.find(es, event="export", user="fenna", object="format jsonl")
        self.find(es, event="export", user="fenna", object="format report", casus=cid)
        # no content anywhere: exports, report, raw LMDB audit values, the whole store
        bk = self.backup()
        secs = dump_store(bk)
        vals = b"".join(v for s in secs if s["name"] in ("audit", "auditcp") for _, v in s["pairs"])
        self.assertGreater(len(vals), 1000)
        self.assertNotIn(marker.encode(), vals)
        for path in (jl, csv, html, rj, off, os.path.join(bk, "data.mdb"), os.path.join(self.srv.data, "data.mdb")):
            with open(path, "rb") as f:
                self.assertNotIn(marker.encode(), f.read(), path)
        self.assertNotIn(marker.encode(), open(self.srv.log_path, "rb").read())

    # ---- 4. tampering with a backup of the store --------------------------------------

    def activity(self, n=4):
        cid = self.new_casus()
        for i in range(n):
            self.dep.ok("anna", "post", cid, "bericht %d" % i)
            self.texts("gijs", cid)
        time.sleep(1.2)  # a checkpoint by time as well
        self.dep.ok("anna", "post", cid, "laatste")
        return cid

    def test_tampered_backup_is_named(self):
        self.activity()
        bk = self.backup()
        state = os.path.join(self.dep.dir, "remembered-%s" % uuid.uuid4().hex[:6])
        good = self.verify("--backup", bk, "--remember", state)
        with open(state) as f:
            self.assertEqual(f.read().strip(), good["last_checkpoint"])
        self.assertGreater(good["entries"], 20)
        self.assertGreaterEqual(good["checkpoints"], 3)
        remembered = good["last_checkpoint"]
        secs = dump_store(bk)
        audit = section(secs, "audit")
        cps = section(secs, "auditcp")
        entries = list(audit["pairs"])
        cp_seqs = [seq_of(k) for k, _ in cps["pairs"]]
        mid = seq_of(entries[len(entries) // 2][0])
        idx = [seq_of(k) for k, _ in entries].index(mid)

        def tampered(name, new_entries, new_cps=None, anchor=None, extra=()):
            audit["pairs"] = new_entries
            if new_cps is not None:
                cps["pairs"] = new_cps
            dest = os.path.join(self.dep.dir, "%s-%s" % (name, uuid.uuid4().hex[:6]))
            load_store(secs, dest)
            audit["pairs"] = entries
            cps["pairs"] = list(orig_cps)
            args = ["--backup", dest] + (["--anchor", anchor] if anchor else []) + list(extra)
            return self.verify(*args, expect_ok=False)

        orig_cps = list(cps["pairs"])
        # one byte of one entry's value (its time field)
        e = list(entries)
        k, v = e[idx]
        v = bytearray(v)
        v[32 + 12] ^= 0x01
        e[idx] = (k, bytes(v))
        out = tampered("flip", e)
        self.assertEqual((out["fault"], out["fault_seq"]), ("hash_mismatch", mid), out)
        # one byte in a string length: the entry no longer decodes
        e = list(entries)
        v = bytearray(e[idx][1])
        v[32 + 1 + 8 + 8 + 2 + 1] ^= 0x40
        e[idx] = (e[idx][0], bytes(v))
        out = tampered("len", e)
        self.assertIn(out["fault"], ("malformed", "hash_mismatch"), out)
        self.assertEqual(out["fault_seq"], mid)
        # an entry deleted
        e = entries[:idx] + entries[idx + 1:]
        out = tampered("del", e)
        self.assertEqual((out["fault"], out["fault_seq"], out["found_seq"]), ("gap", mid, mid + 1), out)
        # two entries swapped (values under their keys)
        e = list(entries)
        e[idx], e[idx + 1] = (e[idx][0], entries[idx + 1][1]), (e[idx + 1][0], entries[idx][1])
        out = tampered("swap", e)
        self.assertEqual((out["fault"], out["fault_seq"]), ("order", mid), out)
        # the tail cut after a checkpoint; the later checkpoints stay
        cut = cp_seqs[-2]
        e = [(k, v) for k, v in entries if seq_of(k) <= cut]
        out = tampered("cut", e)
        self.assertEqual((out["fault"], out["fault_seq"]), ("tail_cut", cut + 1), out)
        # the tail cut together with its checkpoints: found with the remembered checkpoint
        c = [(k, v) for k, v in orig_cps if seq_of(k) <= cut]
        out = tampered("cutall", e, c, anchor=remembered)
        self.assertEqual((out["fault"], out["fault_seq"]), ("tail_cut", cut + 1), out)
        out = tampered("cutall-state", e, c, extra=("--remember", state))
        self.assertEqual((out["fault"], out["fault_seq"]), ("tail_cut", cut + 1), out)
        # without what was remembered, a tail cut with its checkpoints looks whole: the known limit
        dest = os.path.join(self.dep.dir, "cutall-blind-%s" % uuid.uuid4().hex[:6])
        audit["pairs"], cps["pairs"] = e, c
        load_store(secs, dest)
        audit["pairs"], cps["pairs"] = entries, list(orig_cps)
        self.verify("--backup", dest)
        # a checkpoint removed
        c = [(k, v) for k, v in orig_cps if seq_of(k) != cp_seqs[1]]
        out = tampered("cpdel", entries, c)
        self.assertEqual(out["fault"], "checkpoint_missing", out)
        # the untouched copy, reloaded the same way, still passes (the harness is honest)
        dest = os.path.join(self.dep.dir, "same-%s" % uuid.uuid4().hex[:6])
        load_store(secs, dest)
        self.verify("--backup", dest, "--anchor", remembered)
        # and a wrong pinned key fails every checkpoint
        rc, out, _ = self.dep.cli("fenna", "audit", "verify", "--backup", bk, "--key", "11" * 32)
        self.assertEqual(rc, FAULT_EXIT)
        self.assertEqual(out["fault"], "checkpoint_signature")

    # ---- 5. tampering with a JSON-lines export -----------------------------------------

    def test_tampered_export_is_named(self):
        self.activity()
        path = os.path.join(self.dep.dir, "full-%s.jsonl" % uuid.uuid4().hex[:6])
        self.dep.ok("fenna", "audit", "export", "--format", "jsonl", "--out", path, "--key", self.key)
        good = self.verify(path)
        with open(path) as f:
            lines = f.read().splitlines()
        recs = [json.loads(x) for x in lines]
        ent = [i for i, r in enumerate(recs) if r["type"] == "entry"]
        cpl = [i for i, r in enumerate(recs) if r["type"] == "checkpoint"]
        # The entry to tamper with: the one nearest the middle whose next record is an
        # entry too (the swap and delete cases need that neighbour). A checkpoint can
        # follow any entry (every 5 entries, or when a second has passed), so it is
        # searched for rather than assumed.
        pairs = [j for j in ent if j + 1 < len(recs) and recs[j + 1]["type"] == "entry"]
        self.assertTrue(pairs, "no two entries in a row in the export")
        i = min(pairs, key=lambda j: abs(j - ent[len(ent) // 2]))
        mid = recs[i]["seq"]

        def check(name, new_lines, anchor=None):
            p = os.path.join(self.dep.dir, "%s-%s.jsonl" % (name, uuid.uuid4().hex[:6]))
            with open(p, "w") as f:
                f.write("\n".join(new_lines) + "\n")
            return self.verify(p, *(["--anchor", anchor] if anchor else []), expect_ok=False)

        # the stored hash of one entry changed
        r = dict(recs[i])
        r["hash"] = ("0" if r["hash"][0] != "0" else "1") + r["hash"][1:]
        out = check("hash", lines[:i] + [json.dumps(r, separators=(",", ":"))] + lines[i + 1:])
        self.assertEqual((out["fault"], out["fault_seq"]), ("hash_mismatch", mid), out)
        # a readable field edited: the line no longer says what its raw bytes say
        out = check("field", lines[:i] + [lines[i].replace('"actor_user":"%s"' % recs[i]["actor_user"],
                                                           '"actor_user":"iemand"')] + lines[i + 1:])
        self.assertEqual((out["fault"], out["line"]), ("unreadable_line", i + 1), out)
        # deleted, swapped
        out = check("del", lines[:i] + lines[i + 1:])
        self.assertEqual((out["fault"], out["fault_seq"]), ("gap", mid), out)
        out = check("swap", lines[:i] + [lines[i + 1], lines[i]] + lines[i + 2:])
        self.assertEqual((out["fault"], out["fault_seq"]), ("order", mid), out)
        # cut after a checkpoint, later checkpoints kept / removed with the remembered one
        c = cpl[-2]
        cut_seq = recs[c]["seq"]
        kept_cps = [lines[j] for j in cpl if j > c]
        out = check("cut", lines[:c + 1] + kept_cps)
        self.assertEqual((out["fault"], out["fault_seq"]), ("tail_cut", cut_seq + 1), out)
        out = check("cutall", lines[:c + 1], anchor=good["last_checkpoint"])
        self.assertEqual((out["fault"], out["fault_seq"]), ("tail_cut", cut_seq + 1), out)
        # another key in the header than the pinned one
        rc, out, _ = self.dep.cli("fenna", "audit", "verify", path, "--key", "22" * 32)
        self.assertEqual(rc, FAULT_EXIT)
        self.assertEqual(out["fault"], "wrong_key")
        # a filtered export is for reading: it does not verify as a chain
        cid = recs[i]["casus"]
        fp = os.path.join(self.dep.dir, "filtered-%s.jsonl" % uuid.uuid4().hex[:6])
        out = self.dep.ok("fenna", "audit", "export", "--casus", "0" * 32 if cid == "0" * 32 else cid,
                          "--format", "jsonl", "--out", fp, "--key", self.key)
        self.assertTrue(out["filtered"])

    # ---- 6. SIGKILL under load ----------------------------------------------------------

    def test_crash_keeps_every_acked_entry(self):
        cid = self.new_casus(members=("esther", "gijs", "loes"))
        acked, stop = [], threading.Event()

        def poster():
            i = 0
            while not stop.is_set():
                rc, out, _ = self.dep.cli("loes", "post", cid, "onder last %d" % i, timeout=30)
                if rc == 0 and out and out.get("ok"):
                    acked.append(out["id"])
                i += 1

        threads = [threading.Thread(target=poster) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.time() + 60
        while len(acked) < 8 and time.time() < deadline:
            time.sleep(0.1)
        self.srv.kill()
        stop.set()
        for t in threads:
            t.join(60)
        self.assertGreaterEqual(len(acked), 8)
        # the data folder as the kill left it verifies (read-only, no lock file)
        self.verify("--backup", self.srv.data)
        self.srv = harness.Server(self.dep, self.config, data_dir=self.srv.data).start()
        # the post cut off by the kill is delivered from the outbox now (at most once more)
        self.dep.ok("loes", "list")
        good = self.verify("--backup", self.backup("crash"))
        self.assertGreater(good["entries"], len(acked))
        es = self.trail()
        posted = {m for e in es if e["event"] == "message_post" and e["outcome"] == "success"
                  for m in e["msg_ids"]}
        missing = [m for m in acked if m not in posted]
        self.assertEqual(missing, [], "acknowledged posts without an audit entry")
        self.find(es, event="server_start")

    # ---- 7. retention: prune up to a signed checkpoint -----------------------------------

    def test_prune_keeps_the_rest_verifiable(self):
        self.activity(n=5)
        self.srv.stop()
        off = os.path.join(self.dep.dir, "before-prune-%s.jsonl" % uuid.uuid4().hex[:6])
        run(harness.CASUSD, "audit-export", "--data", self.srv.data, "--out", off)
        before = self.verify(off)
        recs = [json.loads(x) for x in open(off)]
        cps = [r for r in recs if r["type"] == "checkpoint"]
        self.assertGreaterEqual(len(cps), 3)
        # the middle checkpoint whose successor is strictly younger
        pick = None
        for a, b in zip(cps[len(cps) // 2:], cps[len(cps) // 2 + 1:]):
            if b["time_ms"] > a["time_ms"]:
                pick = a
                break
        self.assertIsNotNone(pick)
        older = cps[0]
        # keep 1 day, with the clock set one day after the picked checkpoint (test-only --now-ms)
        now = pick["time_ms"] + 86400000 + 1
        p = run(harness.CASUSD, "audit-prune", "--data", self.srv.data, "--keep-days", "1", "--now-ms", str(now))
        self.assertIn("anchor: checkpoint at seq %d" % pick["seq"], p.stdout)
        # a long retention prunes nothing more
        p = run(harness.CASUSD, "audit-prune", "--data", self.srv.data, "--keep-days", "1826")
        self.assertIn("nothing to prune", p.stdout)
        # the store verifies from the anchor, also with the checkpoint remembered before pruning
        self.srv = harness.Server(self.dep, self.config, data_dir=self.srv.data).start()
        self.dep.ok("anna", "list")
        bk = self.backup("pruned")
        after = self.verify("--backup", bk, "--anchor", before["last_checkpoint"])
        self.assertEqual(after["anchor_seq"], pick["seq"])
        self.assertEqual(after["first_seq"], pick["seq"] + 1)
        # a checkpoint from before the anchor: the anchor does not prove it extends it (no
        # witness cosigned it), so the verification fails (issue 17; test_audit_witness.py)
        older_hex = older["raw"]
        out = self.verify("--backup", bk, "--anchor", older_hex, expect_ok=False)
        self.assertEqual((out["fault"], out["fault_seq"]), ("not_extending", older["seq"]), out)
        es = self.trail()
        self.assertEqual(es[0]["seq"], pick["seq"] + 1)
        pr = self.find(es, event="audit_prune")[0]
        self.assertEqual((pr["seq_from"], pr["seq_to"]), (1, pick["seq"]))
        self.assertIn(pick["entry_hash"], pr["object"])
        # the export of the pruned trail carries the anchor and verifies
        path = os.path.join(self.dep.dir, "pruned-%s.jsonl" % uuid.uuid4().hex[:6])
        self.dep.ok("fenna", "audit", "export", "--format", "jsonl", "--out", path, "--key", self.key)
        hdr = json.loads(open(path).readline())
        self.assertEqual(hdr["anchor"], pick["raw"])
        self.verify(path)
        # a forged anchor (one bit of its signature) is refused with the pinned key
        secs = dump_store(bk)
        meta = section(secs, "meta")
        orig_meta = list(meta["pairs"])
        meta["pairs"] = [(k, v if k != b"audit_anchor" else v[:-1] + bytes([v[-1] ^ 1])) for k, v in orig_meta]
        self.assertNotEqual(meta["pairs"], orig_meta)
        dest = os.path.join(self.dep.dir, "pruned-forged-%s" % uuid.uuid4().hex[:6])
        load_store(secs, dest)
        meta["pairs"] = orig_meta
        rc, out, _ = self.dep.cli("fenna", "audit", "verify", "--backup", dest, "--key", self.key)
        self.assertEqual(rc, FAULT_EXIT)
        self.assertEqual((out["fault"], out["fault_seq"]), ("checkpoint_signature", pick["seq"]), out)
        # an older, genuine checkpoint put in as the anchor: the pruned entries are missing
        meta["pairs"] = [(k, v if k != b"audit_anchor" else bytes.fromhex(older["raw"])) for k, v in orig_meta]
        dest = os.path.join(self.dep.dir, "pruned-older-%s" % uuid.uuid4().hex[:6])
        load_store(secs, dest)
        meta["pairs"] = orig_meta
        rc, out, _ = self.dep.cli("fenna", "audit", "verify", "--backup", dest, "--key", self.key)
        self.assertEqual(rc, FAULT_EXIT)
        self.assertEqual((out["fault"], out["fault_seq"]), ("gap", older["seq"] + 1), out)
        # deleting an entry after the anchor is still found
        audit = section(secs, "audit")
        victim = audit["pairs"][3]
        audit["pairs"] = [kv for kv in audit["pairs"] if kv is not victim]
        dest = os.path.join(self.dep.dir, "pruned-del-%s" % uuid.uuid4().hex[:6])
        load_store(secs, dest)
        rc, out, _ = self.dep.cli("fenna", "audit", "verify", "--backup", dest, "--key", self.key)
        self.assertEqual(rc, FAULT_EXIT)
        self.assertEqual((out["fault"], out["fault_seq"]), ("gap", seq_of(victim[0])), out)


if __name__ == "__main__":
    harness.main()
