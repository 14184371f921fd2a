"""
test_casus_swap.py: move 3, casus swap.

Anna is a member of two casus: A (about one person, with Esther) and B (about
another, with Gijs). Anna's device holds no local copy of A. When Anna posts to A,
the compromised server answers her `commit.fetch` for A with B's chain and
files her `msg.post` under B: today the note about A's person is encrypted to
B's epoch and read by Gijs, who is no member of A. Contract: the client binds
the chain to the casus id it asked for and refuses (exit 5, `wrong_casus`);
Gijs never reads the note.
"""
import os
import secrets

import hostile


class CasusSwap(hostile.HostileTest):

    def test_chain_of_another_casus(self):
        a = self.new_casus("anna", ("esther",), title="Casus A")
        b = self.new_casus("anna", ("gijs",), title="Casus B")
        # Anna's device holds no local copy of A (a new device, a cleared
        # cache): the chain the server serves next is all it knows of A
        os.remove(os.path.join(self.dep.users["anna"], "cache", a + ".bin"))
        self.via_proxy("anna")

        def on_request(sess, req):
            if sess.user == "anna" and req.get("casus") == a and req.get("type") in (
                    "commit.fetch", "msg.post", "grant.fetch", "transfer.fetch", "history", "casus.read"):
                self.proxy.hit("swap")
                return dict(req, casus=b)
            return None
        self.proxy.on_request = on_request
        marker = "OVER-PERSOON-A-" + secrets.token_hex(6)
        res = self.run_casus("anna", "post", a, "zorg: " + marker)
        self.show("anna posts to A while the server serves B", res)
        self.assertHit("swap")
        leaked = [t for t in self.history_texts("gijs", b) if t and marker in t]
        print("[gijs, member of B only] reads the note meant for A: %s" % bool(leaked))
        self.assertRefused(res, "wrong_casus", "a chain of another casus was accepted")
        self.assertEqual(leaked, [], "a member of another casus reads the note")


if __name__ == "__main__":
    hostile.main()
