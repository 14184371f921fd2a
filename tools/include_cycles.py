#!/usr/bin/env python3
"""
include_cycles.py: fail if the `#include "..."` graph of a source folder has a cycle.

Usage: include_cycles.py [--modules] DIR

Reads every *.c and *.h file directly in DIR and its lines `#include "name"`
(quoted includes only; <system> headers are outside the graph; a quoted name
that is not a file in DIR is outside it too).

Default: nodes are files. A cycle of headers that include each other is
reported.
--modules: nodes are modules (x.c and x.h are one module "x"); x -> y when
x.c or x.h includes y.h. A cycle here means two parts of the program use
each other, e.g. the event loop including the handlers and the handlers
including the event loop's header.

Exit 0 and "no cycle" when the graph is acyclic; exit 1 and every cycle found
(one per strongly connected component) otherwise; exit 2 on bad usage.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def read_graph(folder, modules):
    files = sorted(f for f in os.listdir(folder) if f.endswith((".c", ".h")))
    present = set(files)
    graph = {}
    for f in files:
        node = os.path.splitext(f)[0] if modules else f
        graph.setdefault(node, set())
        with open(os.path.join(folder, f), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = INCLUDE.match(line)
                if not m or m.group(1) not in present:
                    continue
                target = os.path.splitext(m.group(1))[0] if modules else m.group(1)
                if target != node:
                    graph[node].add(target)
                    graph.setdefault(target, set())
    return graph


def components(graph):
    """Tarjan's strongly connected components (iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def cycle_in(graph, comp):
    """One concrete cycle through the component, for the message."""
    members = set(comp)
    start = comp[0]
    path, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(n for n in graph[node] if n in members)
        back = [n for n in nxt if n == start]
        if back and len(path) > 1:
            return path + [start]
        step = next((n for n in nxt if n not in seen), None)
        if step is None:
            return path + [nxt[0]] if nxt else path
        path.append(step)
        seen.add(step)
        node = step


def main(argv):
    args = [a for a in argv[1:] if a != "--modules"]
    modules = "--modules" in argv[1:]
    if len(args) != 1 or not os.path.isdir(args[0]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    graph = read_graph(args[0], modules)
    comps = components(graph)
    kind = "module" if modules else "file"
    if not comps:
        print("include_cycles: no %s cycle in %s (%d %ss)" % (kind, args[0], len(graph), kind))
        return 0
    for comp in comps:
        print("include_cycles: %s cycle: %s (all of %s reach each other)"
              % (kind, " -> ".join(cycle_in(graph, comp)), ", ".join(comp)))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
