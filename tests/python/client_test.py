"""Tests of the Python client (python/hpsweep) against real hpsweep processes.

Run by tests/python/run_client_test.sh with the package installed into a fresh virtual environment,
the way a user installs it; HPSWEEP_BIN names the hpsweep binary, HPSWEEP_SOURCE_DIR the repository.
Coordinators listen on 127.0.0.1 port 0 (the port read back from their log); a real worker trains
a tiny dense model on the first 500 MNIST images. TLS and tokens come from `hpsweep certs` and
`hpsweep token create`, as a user makes them.
"""

import faulthandler
import gc
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import hpsweep

BIN = os.environ.get("HPSWEEP_BIN", "")
SRC = os.environ.get("HPSWEEP_SOURCE_DIR", "")
MNIST = os.environ.get("HPSWEEP_DATA_DIR") or os.path.join(SRC, "data", "mnist")

TINY = """\
name: py-tiny
description: the Python client's test sweep
data: {validation_split: 0.2, seed: 3, train_limit: 500}
method: grid
fixed: {cell: dense, epochs: 2, batch_size: 50, dense: [16], dropout: 0.1, learning_rate: 0.01}
parameters:
  units: {values: [4, 8]}
"""

# Line 4 holds the bad value: the message must name file, line and key.
BAD = """\
name: py-bad
method: grid
parameters:
  units: {values: [0, 8]}
"""


def queued_sweep(name, n):
    units = ", ".join(str(4 + i) for i in range(n))
    return ("name: %s\nmethod: grid\nfixed: {cell: dense, epochs: 1}\n"
            "parameters:\n  units: {values: [%s]}\n" % (name, units))


class Process:
    """`hpsweep args...` running, its output in log_path; stopped (SIGTERM, then SIGKILL) by stop()."""

    def __init__(self, args, log_path):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([BIN] + args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_coordinator(folder, extra=()):
    """A coordinator on 127.0.0.1 port 0; (process, "127.0.0.1:PORT")."""
    p = Process(["coordinator", "--listen", "127.0.0.1:0", "--db", os.path.join(folder, "s.db"),
                 "--data-dir", MNIST] + list(extra), os.path.join(folder, "coordinator.log"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"listening on (\S+)", p.log())
        if m:
            return p, m.group(1)
        if p.proc.poll() is not None:
            break
        time.sleep(0.05)
    p.stop()
    raise AssertionError("the coordinator did not start:\n" + p.log())


def cli(args, timeout=120):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def setUpModule():
    if not BIN or not os.access(BIN, os.X_OK):
        raise unittest.SkipTest("HPSWEEP_BIN is not the hpsweep binary: %r" % BIN)


class OfflineTest(unittest.TestCase):
    """What needs no coordinator: typed params, settings refused before any call."""

    def test_params_are_typed_like_the_cpp_table(self):
        p = hpsweep.typed_params({
            "units": "128", "layers": "1", "seed": "18446744073709551615", "epochs": "3",
            "learning_rate": "0.001", "momentum": "0", "validation_split": "0.2",
            "nesterov": "false", "dense": "[64, 32]", "dropout": "[0.2, 0.1]", "cell": "lstm",
            "label": "1", "weight_decay": "1e-05", "schedule": "cosine", "patience": "3",
            "bidirectional": "true"})
        self.assertEqual(p["units"], 128)
        self.assertIs(type(p["units"]), int)
        self.assertEqual(p["seed"], 2**64 - 1)
        self.assertEqual(p["learning_rate"], 0.001)
        self.assertIs(type(p["momentum"]), float)
        self.assertIs(p["nesterov"], False)
        self.assertIs(p["bidirectional"], True)
        self.assertEqual(hpsweep.typed_params({"bidirectional": "1"})["bidirectional"], "1")
        self.assertEqual(p["dense"], [64, 32])
        self.assertEqual(p["dropout"], [0.2, 0.1])
        self.assertEqual(p["cell"], "lstm")
        self.assertEqual(p["label"], "1")  # a label stays a label
        self.assertEqual(p["weight_decay"], 1e-05)  # a key the table lacks: typed by its text
        self.assertEqual(p["schedule"], "cosine")
        self.assertEqual(p["patience"], 3)
        # keep and early stopping's keys, typed as search/params_json.cc types them.
        q = hpsweep.typed_params({"keep": "best", "early_stopping": "true", "min_delta": "0",
                                  "restore_best_weights": "false", "patience": "0"})
        self.assertEqual(q, {"keep": "best", "early_stopping": True, "min_delta": 0.0,
                             "restore_best_weights": False, "patience": 0})
        self.assertIs(type(q["min_delta"]), float)

    def test_text_not_of_its_type_stays_text_and_typed_values_stay(self):
        for bad in ["", "12abc", "0x10", " 12", "1.5", "99999999999999999999", "nan"]:
            self.assertEqual(hpsweep.typed_params({"units": bad})["units"], bad)
        for bad in ["nan", "inf", "1e999", "."]:
            self.assertEqual(hpsweep.typed_params({"learning_rate": bad})["learning_rate"], bad)
        self.assertEqual(hpsweep.typed_params({"seed": "-1"})["seed"], "-1")
        self.assertEqual(hpsweep.typed_params({"dense": "[64, x]"})["dense"], "[64, x]")
        self.assertEqual(hpsweep.typed_params({"units": 7, "dense": [1]}), {"units": 7,
                                                                             "dense": [1]})

    def test_message_to_dict_keeps_numbers_and_skips_unknown_fields(self):
        from hpsweep._gen import hpsweep_pb2 as pb
        msg = pb.SweepStatus(sweep_id=2**40, name="x", total=3, best_metric=-1.0, maximize=True)
        # A field this client does not know (a newer coordinator's): tag 99, varint 5.
        data = msg.SerializeToString() + bytes([0x98, 0x06, 0x05])
        d = hpsweep.message_to_dict(pb.SweepStatus.FromString(data))
        self.assertEqual(d["sweep_id"], 2**40)
        self.assertIs(type(d["sweep_id"]), int)
        self.assertEqual(d["total"], 3)
        self.assertEqual(d["best_metric"], -1.0)
        self.assertIs(d["maximize"], True)

    def test_status_of_a_loss_sweep_names_its_metric_and_counts_pruned(self):
        # A finished hyperband sweep of val_loss: 5 completed, 3 pruned of 8. The proto's
        # best_val_accuracy holds the sweep's metric (a loss here): not shown under that name.
        from hpsweep._gen import hpsweep_pb2 as pb
        msg = pb.SweepStatus(sweep_id=1, name="minloss", state="completed", completed=5, pruned=3,
                             total=8, metric_name="val_loss", maximize=False,
                             best_val_accuracy=2.337, best_metric=2.337)
        d = hpsweep.sweep_status(msg)
        self.assertEqual(d["metric"], "val_loss")
        self.assertEqual(d["goal"], "minimize")
        self.assertEqual(d["best"], 2.337)
        self.assertNotIn("best_val_accuracy", d)
        self.assertEqual(d["done"], 8)
        self.assertEqual(hpsweep.FINISHED_STATES, ("completed", "failed", "stopped", "pruned"))
        # No result yet: None, not -1.
        empty = hpsweep.sweep_status(pb.SweepStatus(queued=2, total=2, metric_name="val_accuracy",
                                                    maximize=True, best_metric=-1))
        self.assertIsNone(empty["best"])
        self.assertEqual((empty["goal"], empty["done"]), ("maximize", 0))

    def test_readme_watch_example_counts_every_finished_trial(self):
        # The README's watch loop ("From Python"), run on the snapshot of the finished sweep above:
        # it must say 8/8 done, not 5/8.
        from hpsweep._gen import hpsweep_pb2 as pb
        with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        start = next(i for i, l in enumerate(lines) if "for p in c.watch(sweep):" in l)
        block = [lines[start]]
        indent = len(lines[start]) - len(lines[start].lstrip())
        for l in lines[start + 1:]:
            if len(l) - len(l.lstrip()) <= indent:
                break
            block.append(l)
        code = "\n".join(l[indent:] for l in block).replace("c.watch(sweep)", "snapshots")
        msg = pb.SweepStatus(sweep_id=1, name="minloss", state="completed", completed=5, pruned=3,
                             total=8, metric_name="val_loss", maximize=False, best_metric=1.5476)
        printed = []
        exec(code, {"snapshots": [{"sweeps": [hpsweep.sweep_status(msg)], "workers_alive": 0}],
                    "print": lambda *a: printed.append(" ".join(map(str, a)))})
        self.assertEqual(printed, ["8/8 done, best val_loss 1.5476"])

    def test_leaderboard_row_says_not_measured_and_pruned_at(self):
        from hpsweep._gen import hpsweep_pb2 as pb
        from hpsweep.client import _leaderboard_row
        pruned = _leaderboard_row(pb.LeaderboardRow(rank=3, number=4, status=pb.PRUNED, epochs=1,
                                                    best_epoch=1, val_accuracy=0.175,
                                                    test_accuracy=-1, metric_value=1.5476),
                                  "val_loss")
        self.assertEqual(pruned["status"], "pruned")
        self.assertIsNone(pruned["test_accuracy"])
        self.assertEqual(pruned["pruned_at_epoch"], 1)
        self.assertEqual(pruned["val_loss"], 1.5476)
        self.assertEqual(pruned["metric_value"], 1.5476)
        done = _leaderboard_row(pb.LeaderboardRow(status=pb.COMPLETED, epochs=3, val_accuracy=0.9,
                                                  test_accuracy=0.91, metric_value=0.3),
                                "val_loss")
        self.assertIsNone(done["pruned_at_epoch"])
        self.assertEqual(done["test_accuracy"], 0.91)
        # The epoch test_accuracy comes from (keep: best or last); None when not known.
        self.assertIsNone(done["weights_epoch"])
        kept = _leaderboard_row(pb.LeaderboardRow(status=pb.COMPLETED, epochs=3, weights_epoch=2),
                                "val_accuracy")
        self.assertEqual(kept["weights_epoch"], 2)
        # A program's metric (docs/programs.md) may be negative: a value, not "not measured".
        own = _leaderboard_row(pb.LeaderboardRow(status=pb.COMPLETED, epochs=2, val_accuracy=-1,
                                                 test_accuracy=-1, metric_value=-0.25), "reward")
        self.assertEqual(own["reward"], -0.25)
        self.assertEqual(own["metric_value"], -0.25)
        self.assertIsNone(own["val_accuracy"])
        none = _leaderboard_row(pb.LeaderboardRow(metric_value=float("nan")), "reward")
        self.assertIsNone(none["reward"])
        # task: regression: the ranked val_mse, and the test pass's test_mse and test_mae under
        # their own names; no accuracy; an error not measured (NaN) is None, never a value.
        reg = _leaderboard_row(pb.LeaderboardRow(status=pb.COMPLETED, epochs=2, val_accuracy=-1,
                                                 test_accuracy=-1, metric_value=0.0123,
                                                 test_metrics={"test_mse": 0.0131,
                                                               "test_mae": 0.0872}), "val_mse")
        self.assertEqual(reg["val_mse"], 0.0123)
        self.assertEqual(reg["test_mse"], 0.0131)
        self.assertEqual(reg["test_mae"], 0.0872)
        self.assertIsNone(reg["val_accuracy"])
        # Several objectives: the front, feasible, and each objective under its own name.
        mo = _leaderboard_row(pb.LeaderboardRow(status=pb.COMPLETED, epochs=1, val_accuracy=0.9,
                                                metric_value=0.9, front=2, infeasible=True,
                                                objective_values=[0.9, 24458.0]),
                              "val_accuracy", ["val_accuracy", "param_count"], True)
        self.assertEqual(mo["front"], 2)
        self.assertFalse(mo["feasible"])
        self.assertEqual(mo["param_count"], 24458)
        self.assertNotIn("objective_values", mo)
        self.assertNotIn("front", done)
        running = _leaderboard_row(pb.LeaderboardRow(status=pb.RUNNING, epochs=1, val_accuracy=-1,
                                                     metric_value=float("nan"),
                                                     test_metrics={"test_mse": float("nan")}),
                                   "val_mse")
        self.assertIsNone(running["val_mse"])
        self.assertIsNone(running["test_mse"])

    def test_settings_refused_before_any_call(self):
        secret = "hps_" + "a" * 64
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            hpsweep.Client("127.0.0.1:1", token=secret)
        self.assertIn("no tls_ca", str(e.exception))
        self.assertNotIn(secret, str(e.exception))
        for bad in ["50051", "host", "host:0", "host:70000", ":80", "a b:1"]:
            with self.assertRaises(hpsweep.InvalidArgument, msg=bad) as e:
                hpsweep.Client(bad)
            self.assertIn("expected HOST:PORT", str(e.exception))
        with self.assertRaises(ValueError):  # InvalidArgument is a ValueError
            hpsweep.Client("127.0.0.1:1", tls_cert="x")
        with self.assertRaises(hpsweep.InvalidArgument):
            hpsweep.Client("127.0.0.1:1", token="bad token")
        with self.assertRaises(hpsweep.NotFound):
            hpsweep.Client("127.0.0.1:1", tls_ca="/nonexistent/ca.crt")
        with self.assertRaises(hpsweep.InvalidArgument):
            hpsweep.Client("127.0.0.1:1", token="x", token_file="y")

    def test_export_follows_pages_and_joins_their_trials(self):
        # A coordinator's pages (ExportSweepRequest.after_trial, max_bytes): three trials in two.
        from hpsweep._gen import hpsweep_pb2 as pb
        head = {"id": 7, "name": "big", "trials": 3}
        pages = [pb.ExportSweepResponse(json=json.dumps({"sweep": head, "trials": [
                     {"number": 1, "params": {"units": 8}}, {"number": 2, "params": {}}]}),
                     next_after=2),
                 pb.ExportSweepResponse(json=json.dumps({"sweep": head, "trials": [
                     {"number": 3, "params": {"units": "16"}}]}), next_after=0)]
        asked = []

        class Stub:
            def ExportSweep(self, request, timeout=None):
                asked.append((request.sweep_id, request.after_trial, request.max_bytes))
                return pages[len(asked) - 1]

        with hpsweep.Client("127.0.0.1:1", timeout=5) as c:
            c._stub = Stub()
            data = c.export()  # the latest: the pages after the first ask for the sweep it found
        self.assertEqual([t["number"] for t in data["trials"]], [1, 2, 3])
        self.assertEqual(data["trials"][2]["params"], {"units": 16})
        self.assertEqual(data["sweep"], head)
        self.assertEqual([(s, a) for s, a, _ in asked], [(0, 0), (7, 2)])
        self.assertTrue(all(m > 0 for _, _, m in asked), asked)

    def test_no_coordinator_is_unavailable(self):
        with hpsweep.Client("127.0.0.1:1", timeout=5) as c:
            with self.assertRaises(hpsweep.Unavailable) as e:
                c.status()
        self.assertIsInstance(e.exception, ConnectionError)
        self.assertIn("hpsweep coordinator --listen 127.0.0.1:1", str(e.exception))
        self.assertEqual(e.exception.code, "UNAVAILABLE")
        # The error keeps no gRPC call alive (a kept call is collected at interpreter teardown,
        # where gRPC can crash): nothing in its context, no traceback chain to the RpcError.
        self.assertIsNone(e.exception.__context__)
        self.assertIsNone(e.exception.__cause__)


@unittest.skipUnless(os.path.isfile(os.path.join(MNIST, "train-images-idx3-ubyte")),
                     "no MNIST in " + MNIST + ": run scripts/bootstrap.sh")
class LoopbackTest(unittest.TestCase):
    """A plaintext coordinator on loopback, as `hpsweep coordinator` runs with no setup."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hpsweep_py_")
        cls.coordinator, cls.addr = start_coordinator(cls.dir)
        cls.client = hpsweep.Client(cls.addr)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.coordinator.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_a_bad_sweep_file_raises_naming_file_line_and_key(self):
        path = self.path("bad.yaml", BAD)
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            self.client.submit(path)
        self.assertIsInstance(e.exception, ValueError)
        self.assertIn(path + ":4: key 'units'", str(e.exception))
        self.assertEqual(e.exception.code, "INVALID_ARGUMENT")
        # The same text as YAML, named for the messages.
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            self.client.submit(BAD, file_name="mine.yaml")
        self.assertIn("mine.yaml:4: key 'units'", str(e.exception))
        # Nothing was stored.
        self.assertNotIn("py-bad", [s["name"] for s in self.client.status()])

    def test_hostile_sweep_text_is_refused_with_a_reason(self):
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            self.client.submit("/dev/zero")  # never ends: read up to the limit only
        self.assertIn("/dev/zero: the file is 1048577 bytes, over the limit of 1048576",
                      str(e.exception))
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            self.client.submit(b"name: x\n\xff\xfe\n")
        self.assertIn("not valid UTF-8", str(e.exception))
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            self.client.submit("name: x\n\x00\n", file_name="nul.yaml")
        self.assertIn("nul.yaml:2:", str(e.exception))
        with self.assertRaises(hpsweep.InvalidArgument):
            self.client.submit(12)

    def test_missing_file_and_unknown_sweep_are_not_found(self):
        with self.assertRaises(hpsweep.NotFound) as e:
            self.client.submit(os.path.join(self.dir, "nope.yaml"))
        self.assertIn("nope.yaml: cannot open sweep file", str(e.exception))
        for call in (lambda: self.client.leaderboard(9999), lambda: self.client.export(9999),
                     lambda: self.client.status(9999), lambda: list(self.client.watch(9999))):
            with self.assertRaises(hpsweep.NotFound) as e:
                call()
            self.assertIsNone(e.exception.__context__)  # no gRPC call kept (see above)
        with self.assertRaises(LookupError):  # NotFound is a LookupError
            self.client.cancel(9999)
        with self.assertRaises(hpsweep.InvalidArgument):
            self.client.leaderboard(-1)

    def test_cancel_stops_queued_trials_and_ends_the_watch(self):
        sweep = self.client.submit(queued_sweep("py-cancel", 3), file_name="cancel.yaml")
        self.assertIsInstance(sweep, int)
        (st,) = self.client.status(sweep)
        self.assertEqual((st["name"], st["state"], st["queued"], st["total"]),
                         ("py-cancel", "running", 3, 3))
        # Leaving a watch early ends its stream (the coordinator allows 64 open watches).
        for _ in range(70):
            it = self.client.watch(sweep)
            self.assertEqual(next(it)["sweeps"][0]["queued"], 3)
            it.close()
        self.assertEqual(self.client.cancel(sweep), 3)
        (st,) = self.client.status(sweep)
        self.assertEqual((st["state"], st["queued"], st["stopped"]), ("cancelled", 0, 3))
        snapshots = list(self.client.watch(sweep))  # a finished sweep: the stream ends
        self.assertGreaterEqual(len(snapshots), 1)
        self.assertEqual(snapshots[-1]["sweeps"][0]["state"], "cancelled")

    def test_extend_a_random_sweep_by_id_and_name_and_refusals(self):
        grow = ("name: py-grow\nmethod: random\nmax_trials: 2\nfixed: {cell: dense, epochs: 1}\n"
                "parameters:\n  units: {distribution: int_uniform, min: 2, max: 64}\n")
        sweep = self.client.submit(grow, file_name="grow.yaml")
        out = self.client.extend(sweep, max_trials=5)
        self.assertEqual(out, {"sweep_id": sweep, "name": "py-grow", "max_trials": 5,
                               "total": 5, "previous_total": 2})
        (st,) = self.client.status(sweep)
        self.assertEqual((st["state"], st["total"]), ("running", 5))
        # By name (the latest of that name), by how many more.
        self.assertEqual(self.client.extend("py-grow", more=2)["max_trials"], 7)
        self.assertEqual(self.client.status(sweep)[0]["total"], 7)
        # `hpsweep extend` through the same coordinator: by name, then a refusal (exit 2).
        out = subprocess.run([BIN, "extend", "py-grow", "--more", "1", "--coordinator", self.addr],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("sweep %d (py-grow) extended to max_trials 8: 1 more trial to propose "
                      "(8 in all)" % sweep, out.stdout)
        out = subprocess.run([BIN, "extend", str(sweep), "--max-trials", "8", "--coordinator",
                              self.addr], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("not larger than the max_trials", out.stderr)
        self.assertEqual(self.client.status(sweep)[0]["total"], 8)
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            self.client.extend(sweep, max_trials=8)
        self.assertIn("not larger than the max_trials", str(e.exception))
        grid = self.client.submit(queued_sweep("py-grid", 2), file_name="grid.yaml")
        with self.assertRaises(hpsweep.FailedPrecondition) as e:
            self.client.extend(grid, max_trials=9)
        self.assertIn("grid sweep", str(e.exception))
        self.client.cancel(grid)
        with self.assertRaises(hpsweep.NotFound):
            self.client.extend("py-nosuch", more=1)
        with self.assertRaises(hpsweep.NotFound):
            self.client.extend(9999, more=1)
        for bad in (dict(max_trials=0), dict(more=10001), dict(max_trials="9"), dict(),
                    dict(max_trials=9, more=1)):
            with self.assertRaises(hpsweep.InvalidArgument):
                self.client.extend(sweep, **bad)
        self.assertEqual(self.client.status(sweep)[0]["total"], 8)  # nothing changed
        self.assertEqual(self.client.cancel(sweep), 8)

    def test_a_sweep_trained_by_a_real_worker(self):
        path = self.path("tiny.yaml", TINY)
        sweep = self.client.submit(path)
        worker = Process(["worker", "--coordinator", self.addr, "--threads", "1", "--data-dir",
                          MNIST, "--name", "py-worker"], os.path.join(self.dir, "worker.log"))
        try:
            snapshots = []
            for snap in self.client.watch(sweep):
                snapshots.append(snap)
                self.assertLess(len(snapshots), 10000, "the watch never ended")
        finally:
            worker.stop()
        self.assertTrue(snapshots)
        done = [s["sweeps"][0]["completed"] for s in snapshots]
        self.assertEqual(done, sorted(done), "completed went down")
        last = snapshots[-1]["sweeps"][0]
        self.assertEqual((last["completed"], last["total"], last["state"]),
                         (2, 2, "completed"), worker.log())
        self.assertEqual((last["done"], last["metric"], last["goal"]),
                         (2, "val_accuracy", "maximize"))
        self.assertIsInstance(snapshots[-1]["workers_alive"], int)

        (st,) = self.client.status(sweep)
        self.assertEqual(st["sweep_id"], sweep)
        self.assertEqual(st["metric_name"], "val_accuracy")
        self.assertIs(st["maximize"], True)
        self.assertTrue(0 <= st["best_metric"] <= 1)
        self.assertEqual((st["metric"], st["goal"], st["best"], st["done"]),
                         ("val_accuracy", "maximize", st["best_metric"], 2))
        self.assertNotIn("best_val_accuracy", st)

        rows = self.client.leaderboard(sweep)
        self.assertEqual([r["rank"] for r in rows], [1, 2])
        self.assertEqual(sorted(r["params"]["units"] for r in rows), [4, 8])
        for r in rows:
            p = r["params"]
            self.assertIs(type(p["units"]), int)
            self.assertEqual(p["dense"], [16])
            self.assertEqual(p["dropout"], [0.1])
            self.assertEqual(p["epochs"], 2)
            self.assertEqual(p["train_limit"], 500)
            self.assertEqual(p["learning_rate"], 0.01)
            self.assertIs(p["nesterov"], False)
            self.assertEqual(p["cell"], "dense")
            self.assertEqual(r["status"], "completed")
            self.assertEqual(r["epochs"], 2)
            self.assertEqual(r["worker"], "py-worker")
            self.assertTrue(0 <= r["val_accuracy"] <= 1)
            self.assertEqual(r["val_accuracy"], r["metric_value"])  # the metric: val_accuracy
        self.assertGreaterEqual(rows[0]["val_accuracy"], rows[1]["val_accuracy"])
        self.assertEqual(self.client.leaderboard(sweep, top=1), rows[:1])
        # None: the latest sweep (unittest runs the tests in name order: none submitted since).
        self.assertEqual(self.client.leaderboard(), rows)

        # The C++ CLI's JSON has the same typed values.
        out = cli(["leaderboard", str(sweep), "--format", "json", "--coordinator", self.addr])
        self.assertEqual(out.returncode, 0, out.stderr)
        cpp = json.loads(out.stdout)["rows"]
        self.assertEqual([r["params"] for r in cpp], [r["params"] for r in rows])
        self.assertEqual([r["trial_id"] for r in cpp], [r["trial_id"] for r in rows])
        for key in ("test_accuracy", "pruned_at_epoch", "val_accuracy", "weights_epoch"):
            self.assertEqual([r[key] for r in cpp], [r[key] for r in rows], key)

        ex = self.client.export(sweep)
        self.assertEqual(ex["sweep"]["id"], sweep)
        self.assertEqual(ex["sweep"]["name"], "py-tiny")
        self.assertEqual(len(ex["trials"]), 2)
        for t in ex["trials"]:
            self.assertEqual(t["status"], "completed")
            self.assertIn(t["params"]["units"], (4, 8))
            self.assertEqual(t["params"]["dense"], [16])
            self.assertEqual([e["epoch"] for e in t["epochs"]], [1, 2])
            for e in t["epochs"]:
                self.assertIsInstance(e["val_accuracy"], float)
                self.assertIsInstance(e["train_loss"], float)
                self.assertGreater(e["lr"], 0)  # each epoch's learning rate
            self.assertIn(t["weights_epoch"], (1, 2))  # keep: best, the default
            self.assertEqual(t["stopped_epoch"], 0)
            self.assertEqual(len(t["confusion_matrix"]), 100)
        out = cli(["export", str(sweep), "--format", "json", "--coordinator", self.addr])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), ex)

        model = self.client.model(rows[0]["trial_id"])
        self.assertIsInstance(model, bytes)
        self.assertGreater(len(model), 100)
        with self.assertRaises(hpsweep.NotFound):
            self.client.model(999999)

        try:
            import pandas  # noqa: F401
        except ImportError:
            return  # optional (python3-pandas); the rest is checked above
        df = self.client.leaderboard(sweep, as_dataframe=True)
        self.assertEqual(list(df["rank"]), [1, 2])
        self.assertEqual(sorted(df["params.units"]), [4, 8])
        self.assertEqual(str(df["params.units"].dtype), "int64")
        self.assertEqual(str(df["val_accuracy"].dtype), "float64")


@unittest.skipUnless(os.path.isfile(os.path.join(MNIST, "train-images-idx3-ubyte")),
                     "no MNIST in " + MNIST + ": run scripts/bootstrap.sh")
class SecureTest(unittest.TestCase):
    """TLS and tokens made by `hpsweep certs` and `hpsweep token create`."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hpsweep_pysec_")
        d = cls.dir
        out = cli(["certs", "--out", os.path.join(d, "certs"), "--host", "localhost"])
        assert out.returncode == 0, out.stderr
        cls.tokens = {}
        for role in ("user", "reader", "worker"):
            f = os.path.join(d, role + ".token")
            out = cli(["token", "create", "--role", role, "--tokens", os.path.join(d, "tokens.txt"),
                       "--out", f])
            assert out.returncode == 0, out.stderr
            with open(f) as tf:
                cls.tokens[role] = tf.read().strip()
        cls.ca = os.path.join(d, "certs", "ca.crt")
        cls.coordinator, cls.addr = start_coordinator(d, [
            "--tls-cert", os.path.join(d, "certs", "server.crt"),
            "--tls-key", os.path.join(d, "certs", "server.key"),
            "--auth-tokens", os.path.join(d, "tokens.txt")])

    @classmethod
    def tearDownClass(cls):
        cls.coordinator.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_user_token_submits_reader_token_reads_only(self):
        with hpsweep.Client(self.addr, token=self.tokens["user"], tls_ca=self.ca) as user:
            sweep = user.submit(queued_sweep("py-secure", 2), file_name="secure.yaml")
            self.assertEqual(user.status(sweep)[0]["total"], 2)
        # token_file, as `hpsweep token create --out` wrote it (mode 600).
        with hpsweep.Client(self.addr, token_file=os.path.join(self.dir, "reader.token"),
                            tls_ca=self.ca) as reader:
            self.assertEqual(reader.leaderboard(sweep), [])
            exported = reader.export(sweep)
            # Trials are proposed at lease time: none is stored before a worker leases one.
            self.assertEqual((exported["sweep"]["trials"], len(exported["trials"])), (2, 0))
            with self.assertRaises(hpsweep.PermissionDenied) as e:
                reader.submit(queued_sweep("py-denied", 1))
            self.assertIsInstance(e.exception, PermissionError)
            self.assertIn("needs user", str(e.exception))
            with self.assertRaises(hpsweep.PermissionDenied):
                reader.cancel(sweep)
        with hpsweep.Client(self.addr, token=self.tokens["worker"], tls_ca=self.ca) as worker:
            with self.assertRaises(hpsweep.PermissionDenied):
                worker.export(sweep)
        # $HPSWEEP_TOKEN when neither token nor token_file is given, as the CLI.
        os.environ["HPSWEEP_TOKEN"] = self.tokens["user"]
        try:
            with hpsweep.Client(self.addr, tls_ca=self.ca, tls_server_name="localhost") as env:
                self.assertEqual(env.cancel(sweep), 2)
        finally:
            del os.environ["HPSWEEP_TOKEN"]

    def test_wrong_or_missing_token_is_refused_and_never_shown(self):
        wrong = "hps_" + "0123456789abcdef" * 4
        c = hpsweep.Client(self.addr, token=wrong, tls_ca=self.ca)
        with self.assertRaises(hpsweep.Unauthenticated) as e:
            c.status()
        self.assertIsInstance(e.exception, PermissionError)
        self.assertIn("not one this coordinator knows", str(e.exception))
        for text in (str(e.exception), repr(e.exception), repr(c), str(vars(c))):
            self.assertNotIn(wrong, text)
        self.assertIn("<hidden>", repr(c))
        c.close()
        with hpsweep.Client(self.addr, tls_ca=self.ca) as none:
            with self.assertRaises(hpsweep.Unauthenticated) as e:
                none.leaderboard()
            self.assertIn("needs a token", str(e.exception))

    def test_mutual_tls_with_the_client_certificate(self):
        d = self.dir
        folder = os.path.join(d, "mutual")
        os.makedirs(folder)
        coordinator, addr = start_coordinator(folder, [
            "--tls-cert", os.path.join(d, "certs", "server.crt"),
            "--tls-key", os.path.join(d, "certs", "server.key"),
            "--tls-client-ca", self.ca, "--auth-tokens", os.path.join(d, "tokens.txt")])
        try:
            with hpsweep.Client(addr, token=self.tokens["reader"], tls_ca=self.ca,
                                tls_cert=os.path.join(d, "certs", "client.crt"),
                                tls_key=os.path.join(d, "certs", "client.key")) as c:
                self.assertEqual(c.status(), [])
            with hpsweep.Client(addr, token=self.tokens["reader"], tls_ca=self.ca,
                                timeout=10) as c:
                with self.assertRaises(hpsweep.Unavailable):  # no client certificate
                    c.status()
        finally:
            coordinator.stop()

    def test_plaintext_to_tls_and_loose_token_files_are_refused(self):
        with hpsweep.Client(self.addr, timeout=10) as plain:
            with self.assertRaises(hpsweep.Unavailable):
                plain.status()
        loose = os.path.join(self.dir, "loose.token")
        with open(loose, "w") as f:
            f.write(self.tokens["user"] + "\n")
        os.chmod(loose, 0o644)
        with self.assertRaises(hpsweep.InvalidArgument) as e:
            hpsweep.Client(self.addr, token_file=loose, tls_ca=self.ca)
        self.assertIn("chmod 600", str(e.exception))
        self.assertNotIn(self.tokens["user"], str(e.exception))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dir, "user.token")).st_mode),
                         0o600)


def tearDownModule():
    # Every channel is closed by now; collect what cycles still hold (exceptions kept by
    # assertRaises, their tracebacks) while gRPC still runs, not during the interpreter's teardown.
    gc.collect()


if __name__ == "__main__":
    faulthandler.enable()  # a crash names the Python line it happened under
    result = unittest.main(exit=False).result
    # Exit without the interpreter's teardown. gRPC Python can crash there, after every test has
    # passed, while it frees channels and call objects during finalization (seen about once in
    # twenty loaded runs, CI's included, even with the cycles collected above). The test's verdict
    # is the result above; nothing is left to flush but the streams.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if result.wasSuccessful() else 1)
