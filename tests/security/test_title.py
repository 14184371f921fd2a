"""
test_title.py: a casus has a name people recognise, for every audience
(issue 14), and it is case content the server never reads.

Anna opens a casus whose title carries a unique marker; it goes to level 3,
the process director Paula is added, takes it to level 4 and adds Peter
(police). Police and the process director read no `zorg` note (the old title
note #1), yet `casus list` shows both of them the title, and so do `members`
and the live view's source (casus_members "title"). Every profile talks
through the proxy, so the proxy sees what the server sees; the marker is
searched (test_plaintext.py's encodings) in casusd's LMDB files and log and in
every frame: found nowhere. The purpose (stored in the clear by design) must
be found by the same search, so the test can fail. The creator's own title
is not unread for her; the other members' title note is.
"""
import json
import os
import secrets

import hostile
import test_plaintext


class Title(hostile.HostileTest):
    users = hostile.users("anna", "esther", "gijs", "paula", "peter")

    def test_title_for_every_audience_never_in_the_clear(self):
        marker = "TITEL-" + secrets.token_hex(10)
        purpose = "DOEL-" + secrets.token_hex(10)
        self.via_proxy("anna", "esther", "gijs", "paula", "peter")
        cid = self.new_casus("anna", ("esther", "gijs"), title="Mevrouw " + marker, purpose=purpose)
        # item 2: the creator wrote the title: nothing unread for her
        mine = [c for c in self.dep.ok("anna", "list")["casus"] if c["casus"] == cid][0]
        self.assertEqual(mine["unread"], 0, mine)
        self.assertEqual(mine.get("title"), "Mevrouw " + marker)
        theirs = [c for c in self.dep.ok("gijs", "list")["casus"] if c["casus"] == cid][0]
        self.assertEqual(theirs.get("title"), "Mevrouw " + marker)
        self.assertEqual(theirs["unread"], 1, theirs)  # the title note, not read yet
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "zorgen")
        self.dep.ok("anna", "add", cid, "paula")
        self.dep.ok("paula", "escalate", cid, "4", "--reason", "politie nodig")
        self.dep.ok("paula", "add", cid, "peter")
        self.dep.ok("anna", "post", cid, "een zorgnotitie")
        for who in ("peter", "paula"):
            # they read no zorg note: the old title note #1 is not theirs
            self.assertNotIn("Mevrouw " + marker, self.texts(who, cid))
            lst = [c for c in self.dep.ok(who, "list")["casus"] if c["casus"] == cid]
            self.assertEqual(len(lst), 1, lst)
            self.assertEqual(lst[0].get("title"), "Mevrouw " + marker, "%s sees no title" % who)
            text = self.run_casus(who, "list", json_out=False)
            self.assertIn(marker, text.stdout, "%s's list does not show the title" % who)
            self.assertNotIn("(doel / purpose)", text.stdout)
            self.assertEqual(self.dep.ok(who, "members", cid).get("title"), "Mevrouw " + marker)
        print("[member] police lists: %s" % text.stdout.strip())

        files = [os.path.join(r, n) for r, _, ns in os.walk(self.srv.data) for n in ns]
        self.assertTrue([f for f in files if f.endswith("data.mdb")], files)
        frames = os.path.join(self.dep.dir, "proxy-frames-title.json")
        with open(frames, "w") as f:
            json.dump([fr[3] for fr in self.proxy.frames], f)
        self.srv.stop()  # flushes the log; LMDB is on disk already
        places = files + [self.srv.log_path, frames]
        control = test_plaintext.scan(files, purpose)
        self.assertTrue(control, "the search cannot find the purpose that casusd stores in the clear")
        hits = test_plaintext.scan(places, marker)
        print("[server side] the title is readable in: %s" % sorted({(os.path.basename(p), e) for p, e in hits}))
        self.assertEqual(hits, [], "the title is readable by the server")
        self.srv = hostile.harness.Server(self.dep, self.config, data_dir=self.srv.data).start()


if __name__ == "__main__":
    hostile.main()
