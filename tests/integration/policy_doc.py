#!/usr/bin/env python3
"""
policy_doc.py: the rules of a casus policy as a small Python model, and the
role x level x action table of docs/POLICY.md generated from it.

    python3 tests/integration/policy_doc.py deploy/policy/default.json

prints the markdown table. test_policy_table.py checks the same model against
the real server and clients, and checks that docs/POLICY.md holds exactly this
output for deploy/policy/default.json.

The model follows crypto/cc_policy.c (cc_policy_may_be_member,
cc_policy_in_audience, cc_policy_may_escalate, cc_policy_may_deescalate,
cc_policy_ground_required), crypto/cc_commit.c (who may add, remove,
break-glass) and crypto/cc_grant.c / server/audit_query.c (grants, audit scope).
"""
import json
import sys

ACTIONS = ["member", "post", "read", "add", "remove", "escalate", "deescalate", "grant", "break_glass", "audit"]


class Policy:
    def __init__(self, data):
        self.data = data
        self.levels = data["levels"]
        self.n = len(self.levels)
        self.roles = []
        for r in data["roles"]:
            d = {"care": False, "never_key": False, "may_create": False, "may_add": False, "may_remove": False,
                 "escalate_max": 0, "may_deescalate": False, "may_grant": False, "may_break_glass": False,
                 "audit_scope": "none"}
            d.update(r)
            self.roles.append(d)
        self.role_names = [r["name"] for r in self.roles]
        self.audiences = [dict({"ground_required": False}, **a) for a in data["audiences"]]
        self.aud_names = [a["name"] for a in self.audiences]

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls(json.load(f))

    def role(self, name):
        return self.roles[self.role_names.index(name)]

    def aud(self, name):
        return self.audiences[self.aud_names.index(name)]

    # ---- decisions (1:1 with cc_policy.c) ----

    def member(self, role, level):
        r = self.role(role)
        return 1 <= level <= self.n and not r["never_key"] and r["min_level"] != 0 and level >= r["min_level"]

    def in_audience(self, aud, role, level):
        return self.member(role, level) and role in self.aud(aud)["roles"]

    def ground_required(self, aud, role, level):
        a, r = self.aud(aud), self.role(role)
        if not a["ground_required"] or not r["care"]:
            return False
        return any(not self.role(o)["care"] and self.in_audience(aud, o, level) for o in self.role_names)

    def may_escalate(self, role, frm, to):
        r = self.role(role)
        return (not r["never_key"] and 1 <= frm <= self.n and 1 <= to <= self.n and to > frm
                and to <= r["escalate_max"])

    def may_deescalate(self, role, frm, to):
        r = self.role(role)
        return not r["never_key"] and r["may_deescalate"] and 1 <= to < frm <= self.n

    # ---- the table: what a role may do in a casus at a level ----

    def post(self, role, aud, level):
        """"yes", "ground" (only with a disclosure ground) or "no"."""
        if not self.in_audience(aud, role, level):
            return "no"
        return "ground" if self.ground_required(aud, role, level) else "yes"

    def read(self, role, aud, level):
        return self.in_audience(aud, role, level)

    def add(self, role, level):
        return self.member(role, level) and self.role(role)["may_add"]

    def remove(self, role, level):
        return self.member(role, level) and self.role(role)["may_remove"]

    def escalate_targets(self, role, level):
        if not self.member(role, level):
            return []
        return [t for t in range(level + 1, self.n + 1) if self.may_escalate(role, level, t)]

    def deescalate(self, role, level):
        """May lower the casus from `level` by one or more levels."""
        return self.member(role, level) and self.may_deescalate(role, level, level - 1)

    def grant(self, role, level):
        return (self.member(role, level) and self.role(role)["may_grant"]
                and any(self.in_audience(a, role, level) for a in self.aud_names))

    def break_glass(self, role, level):
        return self.member(role, level) and self.role(role)["may_break_glass"]

    def audit(self, role, level):
        """audit.query with the casus named: "all", "casus" (a casus the role is a member of) or None."""
        scope = self.role(role)["audit_scope"]
        if scope == "all":
            return "all"
        if scope == "directed" and self.member(role, level):
            return "casus"
        return None

    def admitted(self, level):
        return [r for r in self.role_names if self.member(r, level)]


def cell(p, role, level, action, aud=None):
    if action == "post":
        return {"yes": "yes", "ground": "ground", "no": "—"}[p.post(role, aud, level)]
    if action == "read":
        return "yes" if p.read(role, aud, level) else "—"
    if action == "escalate":
        t = p.escalate_targets(role, level)
        return ("to %d" % t[0] if len(t) == 1 else "to %d–%d" % (t[0], t[-1])) if t else "—"
    if action == "audit":
        return {"all": "all", "casus": "this casus", None: "—"}[p.audit(role, level)]
    return "yes" if getattr(p, action)(role, level) else "—"


def markdown(p):
    out = []
    cols = ["role"] + ["post %s" % a for a in p.aud_names] + ["read %s" % a for a in p.aud_names] + \
        ["add", "remove", "escalate", "de-escalate", "grant", "break-glass", "audit"]
    out.append("Policy `%s`, number %d: %d levels, %d roles, audiences %s." % (
        p.data["deployment"], p.data["number"], p.n, len(p.roles), ", ".join("`%s`" % a for a in p.aud_names)))
    out.append("")
    out.append("Cells: `yes` allowed; `ground` allowed only with a disclosure ground; `—` refused; "
               "`to N` the highest level the role may escalate to; `this casus` the audit trail of this casus "
               "(as a member), `all` of every casus. Roles that are not admitted at a level are not members "
               "and may do nothing in the casus there (their rows are left out; `audit` still applies).")
    for level in range(1, p.n + 1):
        out.append("")
        out.append("### Level %d: %s" % (level, p.levels[level - 1]))
        out.append("")
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "|".join("---" for _ in cols) + "|")
        for r in p.role_names:
            if not p.member(r, level):
                continue
            row = [r] + [cell(p, r, level, "post", a) for a in p.aud_names] + \
                [cell(p, r, level, "read", a) for a in p.aud_names] + \
                [cell(p, r, level, x) for x in ("add", "remove", "escalate", "deescalate", "grant", "break_glass",
                                                "audit")]
            out.append("| " + " | ".join(row) + " |")
        outside = [r for r in p.role_names if not p.member(r, level)]
        if outside:
            out.append("")
            out.append("Not admitted at level %d: %s." % (level, ", ".join(
                "`%s`%s" % (r, " (audit: %s)" % cell(p, r, level, "audit") if p.audit(r, level) else "")
                for r in outside)))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: policy_doc.py POLICY.json\n")
        sys.exit(2)
    sys.stdout.write(markdown(Policy.load(sys.argv[1])))
