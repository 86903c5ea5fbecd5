#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium watches a real sweep live.

A real coordinator (`hpsweep coordinator --http 127.0.0.1:0`) gets a small sweep (tiny dense models
on 500 MNIST images, several epochs each); Chromium opens the dashboard while every trial is still
queued, and only then a real worker starts training. The page must show the completed count reach
the total and the accuracy curves grow from nothing to every epoch, and its workers table go from
empty to the worker, idle, with every trial done, without a reload (a marker set on the page
before the worker starts is still there at the end).

Then a second sweep on the same page, minimising val_loss with hyperband early stopping: a trial
that cannot learn (learning rate 1e-6) is pruned at epoch 1, and the page must say so ("pruned at
epoch 1" on the leaderboard, a dashed one-point curve ending in a mark) and name the metric.

Then the same with TLS and tokens, as on a network: the page asks for a token; a reader's login
shows the sweep without a Cancel button and leaves no cookie that scripts can read (HttpOnly); a
user's login shows the button, and clicking it cancels the sweep, which the page then shows.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 in, fd 4
out, messages ending in NUL), with Python's standard library only: nothing to install, nothing from
the network. Exits 77 (ctest's SKIP) only when Chromium is missing or cannot start.

usage: dashboard_browser_test.py HPSWEEP_BIN MNIST_DIR
"""

import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

EPOCHS = 6
TRIALS = 3
SWEEP = f"""name: dash-browser
method: grid
data: {{validation_split: 0.2, train_limit: 500}}
fixed: {{cell: dense, epochs: {EPOCHS}, batch_size: 32}}
parameters:
  units: {{values: [8, 16, 32]}}
"""

# Rungs at epochs 1 and 3: #1 (learns) goes on, #2 (learning rate 1e-6: its val_loss stays high)
# reaches epoch 1 after #1, is worse, and is pruned there.
PRUNE_EPOCHS = 4
PRUNE_SWEEP = f"""name: dash-prune
method: grid
metric: {{name: val_loss, goal: minimize}}
early_terminate: {{type: hyperband, min_iter: 1, eta: 3}}
data: {{validation_split: 0.2, train_limit: 500}}
fixed: {{cell: dense, units: 16, epochs: {PRUNE_EPOCHS}, batch_size: 32}}
parameters:
  learning_rate: {{values: [0.01, 0.000001]}}
"""


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class Lines:
    """Collects a child's stderr lines on a thread."""

    def __init__(self, stream):
        self.lines, self.lock = [], threading.Lock()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in stream:
            with self.lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def find(self, pattern, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
            time.sleep(0.05)
        return None

    def text(self):
        with self.lock:
            return "\n".join(self.lines)


class Browser:
    """Headless Chromium over --remote-debugging-pipe."""

    def __init__(self, exe, profile):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds():  # the child's fd 3 reads our commands, its fd 4 writes the answers
            # (via fds above 10 first: either pipe end may itself be fd 3 or 4)
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", "--user-data-dir=" + profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=fds, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self.stderr = Lines(self.proc.stderr)
        self.buf = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True, seconds=20):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            ready, _, _ = select.select([self.from_child], [], [], 0.5)
            if ready:
                chunk = os.read(self.from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.buf += chunk
        raise RuntimeError(f"{method}: no answer in {seconds} s")

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def eval(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            return None
        return r.get("result", {}).get("value")

    def close(self):
        try:
            self.send("Browser.close", session=False, seconds=5)
        except Exception:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# What the page shows: the sweep's completed count, the points drawn on the accuracy chart, the
# leaderboard's rows, the workers table's rows, the live indicator and the marker.
PROBE = """(() => {
  const cell = document.querySelector('#sweeps tr[data-sweep="1"] td.completed');
  const curves = [...document.querySelectorAll('#acc-chart path.curve')];
  return JSON.stringify({
    completed: cell ? Number(cell.dataset.value) : null,
    points: curves.reduce((a, p) => a + Number(p.dataset.points), 0),
    curves: curves.length,
    rows: document.querySelectorAll('#leaderboard tbody tr').length,
    workers: [...document.querySelectorAll('#workers-table tbody tr')].map((tr) => ({
      state: (tr.querySelector('td.state') || {}).textContent,
      precision: (tr.querySelector('td.precision') || {}).textContent,
      trial: (tr.querySelector('td.trial') || {}).textContent,
      done: Number((tr.querySelector('td.done') || {}).textContent),
    })),
    live: (document.getElementById('live') || {}).textContent,
    marker: window.__hpsweepMarker || null,
  });
})()"""


def wait_for(what, fn, seconds=30):
    """Polls fn() until it returns a true value; fails naming `what` and the last value."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    fail(f"{what}: last seen {last!r}")


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, timeout=60, env=env)
    if r.returncode != 0:
        fail(" ".join(cmd[1:3]) + ": " + r.stderr.decode())
    return r.stdout.decode()


def start_worker(hpsweep, grpc_addr, mnist, procs):
    """A real worker that trains until nothing is queued; returns its stderr lines."""
    worker = subprocess.Popen(
        [hpsweep, "worker", "--coordinator", grpc_addr, "--data-dir", mnist,
         "--exit-when-idle", "--quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(worker)
    return Lines(worker.stderr)


def prune_phase(browser, hpsweep, mnist, tmp, grpc_addr, procs):
    """Sweep 2 prunes its trial #2 at epoch 1: the leaderboard and the curves show it."""
    path = os.path.join(tmp, "prune.yaml")
    with open(path, "w") as f:
        f.write(PRUNE_SWEEP)
    sub = subprocess.run([hpsweep, "submit", path, "--coordinator", grpc_addr],
                         capture_output=True, timeout=30)
    if sub.returncode != 0:
        fail("submit prune.yaml: " + sub.stderr.decode())
    # The new sweep reaches the page by itself; a click selects it.
    wait_for("sweep 2 listed", lambda: browser.eval(
        "!!document.querySelector('#sweeps tr[data-sweep=\"2\"]')"))
    browser.eval("document.querySelector('#sweeps tr[data-sweep=\"2\"]').click()")
    worker_log = start_worker(hpsweep, grpc_addr, mnist, procs)
    probe = """(() => {
      const cell = document.querySelector('#sweeps tr[data-sweep="2"] td.pruned');
      const status = [...document.querySelectorAll('#leaderboard tbody tr')].map(
        (tr) => tr.lastChild.textContent);
      const pruned = [...document.querySelectorAll('#loss-chart path.curve.pruned')];
      return JSON.stringify({
        pruned: cell ? Number(cell.textContent) : null,
        status: status,
        pruned_curves: pruned.map((p) => Number(p.dataset.points)),
        marks: document.querySelectorAll('#loss-chart text.end.pruned').length,
        metric: document.getElementById('loss-metric').textContent,
        title: document.getElementById('detail-title').textContent,
        marker: window.__hpsweepMarker || null,
      });
    })()"""

    def look():
        v = browser.eval(probe)
        p = json.loads(v) if v else {}
        ok = (p.get("pruned") == 1 and "pruned at epoch 1" in p.get("status", [])
              and "completed" in p.get("status", []) and p.get("pruned_curves") == [1]
              and p.get("marks") == 1)
        return p if ok else None

    deadline = time.monotonic() + 45
    seen = None
    while time.monotonic() < deadline and not seen:
        seen = look()
        time.sleep(0.1)
    if not seen:
        fail(f"the page did not show trial #2 pruned at epoch 1: "
             f"{browser.eval(probe)}\nworker:\n{worker_log.text()}")
    if "val_loss" not in seen["metric"] or "lower is better" not in seen["metric"]:
        fail(f"the loss chart does not name the sweep's metric and goal: {seen}")
    if seen.get("marker") != 42 or not seen["title"].startswith("Sweep 2"):
        fail(f"the page was reloaded or shows another sweep: {seen}")
    print(f"ok: pruned trial shown: {seen['status']}, metric note {seen['metric']!r}")


def secure_phase(browser, hpsweep, tmp, procs):
    """TLS and tokens: login as reader (no cancel), then as user (cancel works)."""
    certs = os.path.join(tmp, "certs")
    run([hpsweep, "certs", "--out", certs, "--host", "localhost"])
    tokens = {}
    for role in ("reader", "user"):
        out = os.path.join(tmp, role + ".token")
        run([hpsweep, "token", "create", "--role", role, "--tokens",
             os.path.join(tmp, "tokens.txt"), "--out", out])
        with open(out) as f:
            tokens[role] = f.read().split()[0]
    coord = subprocess.Popen(
        [hpsweep, "coordinator", "--listen", "127.0.0.1:0", "--db",
         os.path.join(tmp, "secure.db"), "--http", "127.0.0.1:0",
         "--tls-cert", os.path.join(certs, "server.crt"),
         "--tls-key", os.path.join(certs, "server.key"),
         "--auth-tokens", os.path.join(tmp, "tokens.txt")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(coord)
    log = Lines(coord.stderr)
    m = log.find(r"listening on (127\.0\.0\.1:\d+)", 30)
    d = log.find(r"dashboard at (https://127\.0\.0\.1:\d+/)", 30)
    if not m or not d:
        fail("the TLS coordinator did not start:\n" + log.text())
    env = dict(os.environ, HPSWEEP_TOKEN=tokens["user"])
    run([hpsweep, "submit", os.path.join(tmp, "sweep.yaml"), "--coordinator", m.group(1),
         "--tls-ca", os.path.join(certs, "ca.crt"), "--tls-server-name", "localhost"], env=env)
    # The certificate is our private CA's: the browser is told to accept it.
    browser.send("Security.setIgnoreCertificateErrors", {"ignore": True}, session=False)
    page = """(() => JSON.stringify({
      login: !document.getElementById('login').hidden,
      main: !document.getElementById('main').hidden,
      row: !!document.querySelector('#sweeps tr[data-sweep="1"]'),
      state: (document.querySelector('#sweeps tr[data-sweep="1"] td.state') || {}).textContent,
      cancel: !document.getElementById('cancel').hidden,
      who: document.getElementById('who').textContent,
      cookie: document.cookie,
      error: document.getElementById('login-error').textContent,
    }))()"""

    def look():
        v = browser.eval(page)
        return json.loads(v) if v else {}

    def login(role):
        browser.send("Page.navigate", {"url": d.group(1) + "#sweep=1"})
        wait_for("the login form", lambda: look().get("login"))
        browser.eval(f"document.getElementById('token').value = {json.dumps(tokens[role])};"
                     "document.getElementById('login-form').requestSubmit()")
        return wait_for(f"the sweep after a {role} login",
                        lambda: (lambda p: p if p.get("row") else None)(look()))

    seen = login("reader")
    if seen.get("cancel") or seen.get("who") != "signed in as reader" or seen.get("cookie"):
        fail(f"reader: expected no Cancel button and no script-readable cookie: {seen}")
    browser.eval("document.getElementById('logout').click()")
    seen = login("user")
    if not seen.get("cancel") or seen.get("cookie"):
        fail(f"user: expected a Cancel button and no script-readable cookie: {seen}")
    browser.eval("window.confirm = () => true; document.getElementById('cancel').click()")
    wait_for("the sweep cancelled from the page", lambda: look().get("state") == "cancelled")
    print("ok: TLS + tokens: reader views without Cancel, user cancels; session cookie HttpOnly")


def regression_phase(browser, hpsweep, tmp, procs):
    """A regression sweep (task: regression) shows its test pass's errors, test mse and test mae,
    where a classification sweep shows accuracies; `hpsweep dashboard --db` over its run."""
    sweeps = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sweeps")
    work = os.path.join(tmp, "regression")
    os.makedirs(work)
    run(["/usr/bin/python3", os.path.join(sweeps, "regression_data.py"),
         os.path.join(work, "data")])
    path = os.path.join(work, "reg.yaml")
    with open(path, "w") as f:
        f.write("name: reg\ndata: {format: csv, train: data/train.csv, test: data/test.csv,\n"
                "  sequence_length: 12, targets: 2, validation_split: 0.2, seed: 1}\n"
                "method: grid\nmetric: {name: val_mse, goal: minimize}\n"
                "fixed: {task: regression, epochs: 1, units: 8, batch_size: 64}\n"
                "parameters:\n  cell: {values: [gru, lstm]}\n")
    db = os.path.join(work, "reg.db")
    r = subprocess.run([hpsweep, "run", path, "--workers", "1", "--db", db], cwd=work,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        fail("run reg.yaml: " + r.stderr.decode()[-2000:])
    dash = subprocess.Popen([hpsweep, "dashboard", "--db", db, "--http", "127.0.0.1:0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    procs.append(dash)
    log = Lines(dash.stderr)
    m = log.find(r"dashboard at (http://127\.0\.0\.1:\d+/)", 30)
    if not m:
        fail("hpsweep dashboard --db did not start:\n" + log.text())
    browser.open(m.group(1))
    probe = """(() => {
      const rows = [...document.querySelectorAll('#leaderboard tbody tr')];
      return JSON.stringify({
        val: document.getElementById('val-col').textContent,
        test: document.getElementById('test-col').textContent,
        cells: rows.map((tr) => [tr.children[6].textContent, tr.children[7].textContent]),
      });
    })()"""

    def look():
        v = browser.eval(probe)
        p = json.loads(v) if v else {}
        cells = p.get("cells") or []
        ok = (p.get("val") == "test mse" and p.get("test") == "test mae" and len(cells) == 2
              and all(re.fullmatch(r"\d+\.\d{4}", c) for row in cells for c in row))
        return p if ok else None

    seen = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not seen:
        seen = look()
        time.sleep(0.1)
    if not seen:
        fail(f"the regression sweep's leaderboard does not show test mse and test mae: "
             f"{browser.eval(probe)}")
    print(f"ok: regression leaderboard shows {seen['val']}, {seen['test']}: {seen['cells']}")


def pareto_phase(browser, hpsweep, mnist, tmp, procs):
    """A sweep of two objectives: the page draws its front (front-1 trials solid, the dominated
    faded) in the plane of the objectives, and the leaderboard's rank cells name each front."""
    work = os.path.join(tmp, "pareto")
    os.makedirs(work)
    path = os.path.join(work, "mo.yaml")
    with open(path, "w") as f:
        f.write("name: mo\ndata: {validation_split: 0.2, train_limit: 600, seed: 1}\n"
                "metric: [{name: val_accuracy, goal: maximize}, {name: param_count}]\n"
                "fixed: {cell: dense, epochs: 1}\n"
                "parameters:\n  units: {values: [2, 16, 64]}\n"
                "  learning_rate: {values: [0.01, 0.00001]}\n")
    db = os.path.join(work, "mo.db")
    r = subprocess.run([hpsweep, "run", path, "--workers", "1", "--threads", "1", "--db", db,
                        "--data-dir", mnist], cwd=work, capture_output=True, timeout=120)
    if r.returncode != 0:
        fail("run mo.yaml: " + r.stderr.decode()[-2000:])
    lb = json.loads(subprocess.run([hpsweep, "leaderboard", "--db", db, "--format", "json"],
                                   capture_output=True, check=True).stdout)
    want_front = sum(1 for row in lb["rows"] if row["front"] == 1)
    if want_front == len(lb["rows"]):  # (a learning rate of 1e-5 trains nothing in one epoch)
        fail(f"every trial is on front 1, so the phase cannot see a dominated one: {lb['rows']}")
    dash = subprocess.Popen([hpsweep, "dashboard", "--db", db, "--http", "127.0.0.1:0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    procs.append(dash)
    log = Lines(dash.stderr)
    m = log.find(r"dashboard at (http://127\.0\.0\.1:\d+/)", 30)
    if not m:
        fail("hpsweep dashboard --db did not start:\n" + log.text())
    browser.open(m.group(1))
    probe = """(() => JSON.stringify({
      shown: !document.getElementById('front-figure').hidden,
      front: document.querySelectorAll('#front-chart circle.front1').length,
      dominated: document.querySelectorAll('#front-chart circle.dominated').length,
      ranks: [...document.querySelectorAll('#leaderboard tbody tr')].map((tr) => tr.children[0].textContent),
    }))()"""
    seen, deadline = None, time.monotonic() + 30
    while time.monotonic() < deadline and not seen:
        v = browser.eval(probe)
        p = json.loads(v) if v else {}
        if (p.get("shown") and p.get("front") == want_front
                and p.get("front", 0) + p.get("dominated", 0) == len(lb["rows"])
                and all("front" in t for t in p.get("ranks", []))):
            seen = p
        time.sleep(0.1)
    if not seen:
        fail(f"the two-objective sweep's front is not drawn ({want_front} on front 1, "
             f"{len(lb['rows'])} trials): {browser.eval(probe)}")
    print(f"ok: the front shows {seen['front']} trials on front 1, {seen['dominated']} dominated; "
          f"ranks {seen['ranks']}")


def main():
    if len(sys.argv) != 3:
        fail("usage: dashboard_browser_test.py HPSWEEP_BIN MNIST_DIR")
    hpsweep, mnist = sys.argv[1], sys.argv[2]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP: chromium is not installed (apt-get install chromium; scripts/test.sh does)")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="hpsweep_dash_browser_")
    procs = []
    browser = None
    try:
        with open(os.path.join(tmp, "sweep.yaml"), "w") as f:
            f.write(SWEEP)
        # `run --http` is loopback only, refused before anything is stored.
        refused = subprocess.run(
            [hpsweep, "run", os.path.join(tmp, "sweep.yaml"), "--db", os.path.join(tmp, "r.db"),
             "--data-dir", mnist, "--http", "0.0.0.0:0"], capture_output=True, timeout=60)
        if refused.returncode != 2 or b"loopback only" not in refused.stderr:
            fail(f"run --http 0.0.0.0:0: exit {refused.returncode}: {refused.stderr.decode()}")
        if os.path.exists(os.path.join(tmp, "r.db")):
            fail("run --http 0.0.0.0:0 made a database")
        # `run --http 127.0.0.1:0` serves it while the sweep runs, then finishes as usual.
        ran = subprocess.run(
            [hpsweep, "run", os.path.join(tmp, "sweep.yaml"), "--db", os.path.join(tmp, "run.db"),
             "--data-dir", mnist, "--workers", "1", "--http", "127.0.0.1:0"],
            capture_output=True, timeout=60)
        if ran.returncode != 0 or not re.search(rb"dashboard at http://127\.0\.0\.1:\d+/",
                                                ran.stderr):
            fail(f"run --http 127.0.0.1:0: exit {ran.returncode}: {ran.stderr.decode()}")
        # A coordinator's dashboard on a network address needs TLS and tokens (or --insecure).
        refused = subprocess.run(
            [hpsweep, "coordinator", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "r.db"),
             "--http", "0.0.0.0:0"], capture_output=True, timeout=60)
        if refused.returncode != 2 or b"without TLS and tokens" not in refused.stderr:
            fail(f"coordinator --http 0.0.0.0:0: exit {refused.returncode}: "
                 f"{refused.stderr.decode()}")
        if os.path.exists(os.path.join(tmp, "r.db")):
            fail("coordinator --http 0.0.0.0:0 made a database")
        coord = subprocess.Popen(
            [hpsweep, "coordinator", "--listen", "127.0.0.1:0", "--db",
             os.path.join(tmp, "sweeps.db"), "--data-dir", mnist, "--http", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(coord)
        coord_log = Lines(coord.stderr)
        m = coord_log.find(r"listening on (127\.0\.0\.1:\d+)", 30)
        d = coord_log.find(r"dashboard at (http://127\.0\.0\.1:\d+/)", 30)
        if not m or not d:
            fail("the coordinator did not start:\n" + coord_log.text())
        grpc_addr, url = m.group(1), d.group(1)
        sub = subprocess.run([hpsweep, "submit", os.path.join(tmp, "sweep.yaml"),
                              "--coordinator", grpc_addr], capture_output=True, timeout=30)
        if sub.returncode != 0:
            fail("submit: " + sub.stderr.decode())

        try:
            browser = Browser(chromium, os.path.join(tmp, "profile"))
            browser.send("Browser.getVersion", session=False, seconds=30)
        except Exception as e:  # the one reason to skip: no browser to drive
            err = browser.stderr.text()[-2000:] if browser else ""
            print(f"SKIP: chromium cannot start: {e}\n{err}")
            sys.exit(77)
        browser.open(url + "#sweep=1")

        def probe():
            v = browser.eval(PROBE)
            return json.loads(v) if v else {}

        deadline = time.monotonic() + 30
        first = {}
        while time.monotonic() < deadline:
            first = probe()
            if first.get("completed") == 0 and first.get("live") == "live":
                break
            time.sleep(0.1)
        else:
            fail(f"the page never showed sweep 1 live: {first}")
        if first["points"] != 0:
            fail(f"points drawn before any training: {first}")
        if first.get("workers") != []:
            fail(f"workers listed before any worker started: {first}")
        browser.eval("window.__hpsweepMarker = 42")

        worker_log = start_worker(hpsweep, grpc_addr, mnist, procs)

        seen_points = set()
        seen_training = set()  # the workers table's "training" cells seen while it trained
        last = {}
        deadline = time.monotonic() + 45

        def worker_done(p):
            # (the read model's state, coordinator/views.h: alive and holding no trial)
            return any(w["state"] == "idle" and w["done"] == TRIALS
                       for w in p.get("workers") or [])

        while time.monotonic() < deadline:
            last = probe()
            seen_points.add(last.get("points"))
            for w in last.get("workers") or []:
                if w["trial"].startswith("sweep 1 #"):
                    seen_training.add(w["trial"])
            if (last.get("completed") == TRIALS and last.get("points") == TRIALS * EPOCHS
                    and last.get("rows") == TRIALS and worker_done(last)):
                break
            time.sleep(0.1)
        else:
            fail(f"the page did not follow the sweep: last {last}, points seen "
                 f"{sorted(p for p in seen_points if p is not None)}\nworker:\n"
                 f"{worker_log.text()}\ncoordinator:\n{coord_log.text()}")
        shot = os.environ.get("HPSWEEP_DASHBOARD_SCREENSHOT")  # for the docs, on request
        if shot:
            browser.send("Emulation.setDeviceMetricsOverride",
                         {"width": 1100, "height": 900, "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.5)
            png = browser.send("Page.captureScreenshot", {"format": "png"})["data"]
            import base64
            with open(shot, "wb") as f:
                f.write(base64.b64decode(png))
        if last.get("marker") != 42:
            fail(f"the page was reloaded (its marker is gone): {last}")
        if last.get("curves") != TRIALS:
            fail(f"expected {TRIALS} curves: {last}")
        if len(last.get("workers") or []) != 1:
            fail(f"expected the one worker in the workers table: {last}")
        if last["workers"][0].get("precision") not in ("bf16", "fp32"):
            fail(f"expected the worker's precision (bf16 or fp32) in its row: {last}")
        print(f"ok: completed 0 -> {last['completed']}, points drawn 0 -> {last['points']} "
              f"(seen {sorted(p for p in seen_points if p is not None)}), workers 0 -> "
              f"{last['workers']} (training seen: {sorted(seen_training)}), no reload")
        prune_phase(browser, hpsweep, mnist, tmp, grpc_addr, procs)
        secure_phase(browser, hpsweep, tmp, procs)
        regression_phase(browser, hpsweep, tmp, procs)
        pareto_phase(browser, hpsweep, mnist, tmp, procs)
    finally:
        if browser:
            browser.close()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
