"""
monitor_demo.py: builds the example behind docs/monitoring-report.png.

A throw-away deployment (the integration harness: real casusd, real clients,
default policy) with 16 casus, 11 escalations, 5 de-escalations and 5
closings; writes `casus monitor --html` to OUT (default monitor.html). Then:
  chromium --headless --window-size=1000,1660 --screenshot=docs/monitoring-report.png file://$PWD/monitor.html

Usage: python3 tools/monitor_demo.py [OUT]   (CASUS_BUILD: the build folder, default build)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("CASUS_BUILD", os.path.join(HERE, "..", "build"))
os.environ.setdefault("CASUS_SRC", os.path.join(HERE, ".."))
import harness  # noqa: E402

OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "monitor.html")
dep = harness.Deployment()
dep.port = harness.free_port(); dep.set_server_url()
srv = harness.Server(dep, data_dir=os.path.join(dep.dir, "data")).start()
try:
    def new(owner="anna", members=("esther", "gijs")):
        args = ["new", "--title", "x", "--purpose", "Zorgcoordinatie", "--basis", "Wmo 2015"]
        for m in members: args += ["--member", m]
        return dep.ok(owner, *args)["casus"]
    ids = [new() for _ in range(14)]
    ids += [new() for _ in range(2)]
    for c in ids[:11]:
        dep.ok("anna", "escalate", c, "2", "--reason", "r")
    for c in ids[:6]:
        dep.ok("anna", "add", c, "karel")
    for c in ids[:5]:
        dep.ok("anna", "deescalate", c, "1", "--reason", "r")
    for c in ids[11:16]:
        dep.ok("anna", "close", c, "--reason", "r")
    dep.ok("bea", "monitor", "--html", OUT)
    print(dep.ok("bea", "monitor"))
finally:
    srv.stop(); dep.cleanup()
