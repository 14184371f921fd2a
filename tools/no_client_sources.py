#!/usr/bin/env python3
"""
no_client_sources.py: fail if a CMakeLists.txt names a file or folder of client/.

Usage: no_client_sources.py CMAKELISTS

casusd must compile nothing from client/ (issue 12): what the server and the
client share lives in crypto/, protocol/ or audit/. Comments are ignored;
any other mention of "client/" (a source, an include folder) fails with the
line number. Exit 0 if none, 1 if any, 2 on bad usage.
"""
import re
import sys


def main(argv):
    if len(argv) != 2:
        print("usage: no_client_sources.py CMAKELISTS", file=sys.stderr)
        return 2
    bad = []
    with open(argv[1], encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            code = line.split("#", 1)[0]
            if re.search(r"(^|[/\s}\"])client(/|\s|\)|$)", code):
                bad.append((no, line.rstrip()))
    for no, line in bad:
        print("%s:%d names client/: %s" % (argv[1], no, line))
    if bad:
        return 1
    print("no_client_sources: %s names nothing from client/" % argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
