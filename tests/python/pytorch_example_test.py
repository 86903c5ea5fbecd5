"""examples/pytorch-lstm/train.py run as a worker runs a program (docs/programs.md), on a slice.

This file is the worker's side played by hand: a trial JSON file, the params as `--name=value`
argv entries in name order, a pipe for HPSWEEP_REPORT_FD and one for HPSWEEP_CONTROL_FD, the
checkpoint and data folders in HPSWEEP_CHECKPOINT_DIR and HPSWEEP_DATA_DIR, standard input
/dev/null, an environment without the caller's HPSWEEP_* variables. Three trials of 2000 images:

1. three epochs uninterrupted: epoch lines 1, 2, 3 with the five metrics (val_f1 and accuracies
   in [0, 1], losses >= 0), then the final line with test_accuracy above chance and test_f1;
2. the same trial told to stop (`{"action": "stop"}` on the control pipe) after its first line:
   it exits 0 with no final line, its checkpoint saved after its last epoch line;
3. that checkpoint folder restored with resume_epoch set, as a worker resumes a trial: it
   reports from the next epoch on, and its lines equal the uninterrupted trial's (one thread,
   same seed, the order of each epoch a function of the seed and the epoch).

The script runs under this test's interpreter (python3 -c 'import torch' must work: exit 77,
ctest's skip, when it does not) rather than through its `#!/usr/bin/env python3` line, which
may find another python3 first on PATH. MNIST: argv[1], else HPSWEEP_DATA_DIR, else the
repository's data/mnist.

    /usr/bin/python3 tests/python/pytorch_example_test.py [MNIST_DIR] [-v]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import torch  # noqa: F401  (only to know whether the example can run here)
except ImportError:
    print("skipped: %s cannot import torch (Debian 12: apt-get install python3-torch)"
          % sys.executable)
    sys.exit(77)

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TRAIN = os.path.join(REPO, "examples", "pytorch-lstm", "train.py")
# Absolute: train.py runs in another folder (the worker's working directory).
MNIST = os.path.abspath(os.environ.get("HPSWEEP_DATA_DIR")
                        or os.path.join(REPO, "data", "mnist"))
PARAMS = {"hidden": 32, "lr": 0.01, "optimizer": "adam", "batch_size": 64, "epochs": 3,
          "train_limit": 1200}
METRICS = {"val_accuracy", "val_loss", "train_loss", "val_f1"}


def run_trial(work, checkpoint_dir, resume_epoch=0, stop_after=None, attempt=1):
    """Runs train.py as a worker would; (report lines, stderr). With stop_after, the stop
    message goes on the control pipe once the line of that epoch has been read."""
    trial = {"sweep": "torch-lstm", "sweep_id": 1, "trial": 1, "attempt": attempt,
             "params": PARAMS, "epochs": PARAMS["epochs"], "seed": 0,
             "checkpoint_dir": checkpoint_dir, "resume_epoch": resume_epoch,
             "metric": "val_f1", "goal": "maximize"}
    path = os.path.join(work, "trial-%d.json" % attempt)
    with open(path, "w") as f:
        json.dump(trial, f)
    os.chmod(path, 0o600)
    report_r, report_w = os.pipe()
    control_r, control_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSWEEP_")}
    env.update({"HPSWEEP_TRIAL": path, "HPSWEEP_REPORT_FD": str(report_w),
                "HPSWEEP_CONTROL_FD": str(control_r), "HPSWEEP_CHECKPOINT_DIR": checkpoint_dir,
                "HPSWEEP_DATA_DIR": MNIST})
    argv = ["--%s=%s" % (k, v) for k, v in sorted(PARAMS.items())]
    with open(os.path.join(work, "stderr-%d.txt" % attempt), "w+") as err:
        proc = subprocess.Popen([sys.executable, TRAIN] + argv, env=env, cwd=work,
                                pass_fds=(report_w, control_r), stdin=subprocess.DEVNULL,
                                stdout=err, stderr=subprocess.STDOUT)
        os.close(report_w)
        os.close(control_r)
        lines = []
        with os.fdopen(report_r, "rb") as report:
            for raw in report:
                lines.append(json.loads(raw))
                if stop_after is not None and lines[-1].get("epoch") == stop_after:
                    os.write(control_w, b'{"action": "stop"}\n')
        os.close(control_w)
        rc = proc.wait(timeout=120)
        err.seek(0)
        stderr = err.read()
    if rc != 0:
        raise AssertionError("train.py exited %d:\n%s" % (rc, stderr))
    return lines, stderr


class PytorchExampleTest(unittest.TestCase):

    def setUp(self):
        if not os.path.isfile(os.path.join(MNIST, "train-images-idx3-ubyte")) and \
                not os.path.isfile(os.path.join(MNIST, "train-images-idx3-ubyte.gz")):
            self.fail("no MNIST in %s: set HPSWEEP_DATA_DIR or pass the folder" % MNIST)
        self.work = tempfile.mkdtemp(prefix="hpsweep-torch-test-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def check_epoch_line(self, line):
        self.assertEqual(set(line) - {"epoch"}, METRICS, line)
        for name in ("val_accuracy", "val_f1"):
            self.assertTrue(0.0 <= line[name] <= 1.0, line)
        self.assertGreaterEqual(line["val_loss"], 0.0)
        self.assertGreaterEqual(line["train_loss"], 0.0)

    def test_trains_stops_and_resumes(self):
        t0 = time.monotonic()
        full_dir = os.path.join(self.work, "full")
        full, _ = run_trial(self.work, full_dir)
        print("uninterrupted: %.1f s" % (time.monotonic() - t0), file=sys.stderr)
        self.assertEqual([line.get("epoch") for line in full], [1, 2, 3, None], full)
        for line in full[:3]:
            self.check_epoch_line(line)
        final = full[3]
        self.assertEqual(set(final), {"test_accuracy", "test_f1"})
        self.assertGreater(final["test_accuracy"], 0.3, final)  # chance is 0.1
        self.assertTrue(0.0 <= final["test_f1"] <= 1.0, final)
        self.assertEqual(os.listdir(full_dir), ["model.pt"])  # no temporary left behind

        t0 = time.monotonic()
        stopped_dir = os.path.join(self.work, "stopped")
        stopped, _ = run_trial(self.work, stopped_dir, stop_after=1, attempt=2)
        print("stopped: %.1f s" % (time.monotonic() - t0), file=sys.stderr)
        epochs = [line.get("epoch") for line in stopped]
        self.assertIn(epochs, ([1], [1, 2]), stopped)  # the stop may land during epoch 2
        self.assertEqual(stopped, full[:len(stopped)])  # the same trial, run the same way
        saved = torch.load(os.path.join(stopped_dir, "model.pt"))
        self.assertEqual(saved["epoch"], epochs[-1])

        # A worker restores the folder on another machine and sets resume_epoch.
        t0 = time.monotonic()
        resumed_dir = os.path.join(self.work, "resumed")
        shutil.copytree(stopped_dir, resumed_dir)
        resumed, err = run_trial(self.work, resumed_dir, resume_epoch=epochs[-1], attempt=3)
        print("resumed: %.1f s" % (time.monotonic() - t0), file=sys.stderr)
        self.assertIn("epochs %d to 3" % (epochs[-1] + 1), err)
        self.assertEqual([line.get("epoch") for line in resumed],
                         list(range(epochs[-1] + 1, 4)) + [None])
        for got, want in zip(resumed, full[len(stopped):]):
            self.assertEqual(set(got), set(want))
            for name, value in want.items():
                self.assertAlmostEqual(got[name], value, places=6, msg=name)

    def test_a_missing_checkpoint_fails_the_attempt(self):
        with self.assertRaisesRegex(AssertionError, "no checkpoint"):
            run_trial(self.work, os.path.join(self.work, "empty"), resume_epoch=1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        MNIST = os.path.abspath(sys.argv.pop(1))
    unittest.main()
