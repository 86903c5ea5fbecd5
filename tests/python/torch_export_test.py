"""`hpsweep export-model --format torch` and hpsweep.torch.load (python/hpsweep/torch.py).

For each kind of model (simple_rnn, lstm, gru, a stacked bidirectional one, one with a Dense
head, an MLP) it trains a tiny model with the real binary (1 epoch on 300 MNIST images), saves
it, exports it, loads it with hpsweep.torch.load and checks that the probabilities of 16 test
images equal `hpsweep predict --idx ... --json`'s within 1e-5; the same for a trial of a sweep
run into a database (--trial N --db DB). Then the refusals: a bad model
file, a folder that is not empty, a symbolic link (nothing written through it), an activation
torch.nn cannot compute (named in the message), a tampered tensor file on the Python side.

Skipped (77) where /usr/bin/python3 cannot import torch.

    /usr/bin/python3 tests/python/torch_export_test.py BUILD/cli/hpsweep [MNIST_DIR] [-v]
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

try:
    import torch
except ImportError:
    print("skipped: %s cannot import torch (Debian 12: apt-get install python3-torch)"
          % sys.executable)
    sys.exit(77)

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))
import hpsweep.torch  # noqa: E402

HPSWEEP = None
MNIST = None
ROWS = 16


def run(*args, ok=True):
    p = subprocess.run([HPSWEEP] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    if ok and p.returncode != 0:
        raise AssertionError("hpsweep %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                           p.stdout[-2000:], p.stderr[-2000:]))
    return p


class TorchExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="torch_export_test.")
        # The first ROWS test images as an IDX file of their own, for `predict --idx`.
        with open(os.path.join(MNIST, "t10k-images-idx3-ubyte"), "rb") as f:
            magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
            assert magic == 0x803 and rows == 28 and cols == 28 and count >= ROWS
            cls.pixels = f.read(ROWS * 28 * 28)
        cls.idx = os.path.join(cls.work, "rows.idx")
        with open(cls.idx, "wb") as f:
            f.write(struct.pack(">IIII", 0x803, ROWS, 28, 28) + cls.pixels)
        # As predict scales them: pixel * (1.0f / 255.0f) in float32.
        cls.x = (torch.frombuffer(bytearray(cls.pixels), dtype=torch.uint8).to(torch.float32)
                 * torch.tensor(1.0 / 255.0, dtype=torch.float32)).reshape(ROWS, 28, 28)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work)

    def train(self, name, *flags):
        model = os.path.join(self.work, name + ".model")
        run("train", "--data-dir", MNIST, "--train-limit", "300", "--epochs", "1",
            "--batch-size", "32", "--threads", "1", "--json", "--save", model, *flags)
        return model

    def hpsweep_probs(self, model):
        out = json.loads(run("predict", "--model", model, "--idx", self.idx, "--json").stdout)
        self.assertEqual(len(out), ROWS)
        return torch.tensor([r["probabilities"] for r in out], dtype=torch.float64)

    def check_same(self, name, *flags):
        model = self.train(name, *flags)
        out = os.path.join(self.work, name + ".torch")
        run("export-model", "--model", model, "--format", "torch", "-o", out)
        m = hpsweep.torch.load(out)
        self.assertIsInstance(m, torch.nn.Module)
        self.assertFalse(m.training)
        with torch.no_grad():
            got = m(self.x).to(torch.float64)
            flat = m(self.x.reshape(ROWS, 28 * 28)).to(torch.float64)
        want = self.hpsweep_probs(model)
        self.assertEqual(tuple(got.shape), (ROWS, 10))
        diff = (got - want).abs().max().item()
        self.assertLessEqual(diff, 1e-5, "%s: torch and hpsweep differ by %g" % (name, diff))
        self.assertTrue(torch.equal(got, flat))
        self.assertTrue(torch.equal(got.argmax(1), want.argmax(1)))
        # Not trivially equal: the model's rows differ from each other.
        self.assertGreater((want[0] - want[1]).abs().max().item(), 1e-4)
        return m

    def test_simple_rnn(self):
        m = self.check_same("simple_rnn", "--cell", "simple_rnn", "--units", "8")
        self.assertIsInstance(m.recurrent[0], torch.nn.RNN)

    def test_simple_rnn_relu(self):
        self.check_same("simple_rnn_relu", "--cell", "simple_rnn", "--units", "8",
                        "--activation", "relu")

    def test_lstm(self):
        m = self.check_same("lstm", "--cell", "lstm", "--units", "8")
        self.assertIsInstance(m.recurrent[0], torch.nn.LSTM)

    def test_gru(self):
        m = self.check_same("gru", "--cell", "gru", "--units", "8")
        self.assertIsInstance(m.recurrent[0], torch.nn.GRU)

    def test_bidirectional_stacked(self):
        for cell in ("gru", "lstm"):
            m = self.check_same("bi_" + cell, "--cell", cell, "--units", "6", "--layers", "2",
                                "--bidirectional", "true")
            self.assertEqual(len(m.recurrent), 2)
            self.assertTrue(m.recurrent[1].bidirectional)

    def test_dense_head(self):
        m = self.check_same("head", "--cell", "lstm", "--units", "8", "--dense", "16,8",
                            "--dense-activation", "tanh", "--dropout", "0.1")
        self.assertEqual(len(m.head), 2)

    def test_mlp(self):
        self.check_same("mlp", "--cell", "dense", "--units", "16", "--layers", "2",
                        "--activation", "sigmoid")

    def test_trial_from_database(self):
        sweep = os.path.join(self.work, "tiny.yaml")
        with open(sweep, "w") as f:
            f.write("name: tiny\n"
                    "data: {dataset: mnist, validation_split: 0.2, seed: 1, train_limit: 300}\n"
                    "method: grid\nmetric: {name: val_accuracy, goal: maximize}\n"
                    "fixed: {layers: 1, epochs: 1, units: 4}\n"
                    "parameters:\n  cell: {values: [gru]}\n")
        db = os.path.join(self.work, "tiny.db")
        run("run", sweep, "--workers", "1", "--threads", "1", "--db", db, "--data-dir", MNIST)
        out = os.path.join(self.work, "trial.torch")
        run("export-model", "--trial", "1", "--db", db, "--format", "torch", "-o", out)
        with torch.no_grad():
            got = hpsweep.torch.load(out)(self.x).to(torch.float64)
        p = run("predict", "--trial", "1", "--db", db, "--idx", self.idx, "--json")
        want = torch.tensor([r["probabilities"] for r in json.loads(p.stdout)],
                            dtype=torch.float64)
        self.assertLessEqual((got - want).abs().max().item(), 1e-5)
        p = run("export-model", "--trial", "1", "--db", db, "--model", "x", "-o",
                os.path.join(self.work, "both"), ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not both", p.stderr)

    def test_refuses_bad_model_file(self):
        bad = os.path.join(self.work, "bad.model")
        with open(bad, "wb") as f:
            f.write(b"hpsweep-model 1\nnot a model\n")
        out = os.path.join(self.work, "bad.torch")
        p = run("export-model", "--model", bad, "-o", out, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("bad.model", p.stderr)
        self.assertFalse(os.path.exists(out))
        p = run("export-model", "--model", bad, "--format", "onnx", "-o", out, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--format onnx", p.stderr)

    def test_refuses_existing_folder_and_link(self):
        model = self.train("refuse", "--cell", "gru", "--units", "4")
        full = os.path.join(self.work, "full")
        os.mkdir(full)
        with open(os.path.join(full, "keep"), "w") as f:
            f.write("mine")
        p = run("export-model", "--model", model, "-o", full, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not empty", p.stderr)
        self.assertEqual(os.listdir(full), ["keep"])
        target = os.path.join(self.work, "target")
        os.mkdir(target)
        link = os.path.join(self.work, "link")
        os.symlink(target, link)
        for out in (link, link + "/"):
            p = run("export-model", "--model", model, "-o", out, ok=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("symbolic link", p.stderr)
        self.assertEqual(os.listdir(target), [])
        # An empty folder is fine; writing into it a second time is not.
        empty = os.path.join(self.work, "empty")
        os.mkdir(empty)
        run("export-model", "--model", model, "-o", empty)
        self.assertIn("model.json", os.listdir(empty))
        p = run("export-model", "--model", model, "-o", empty, ok=False)
        self.assertNotEqual(p.returncode, 0)

    def test_refuses_activation_torch_lacks(self):
        model = self.train("lstm_relu", "--cell", "lstm", "--units", "4", "--activation", "relu")
        out = os.path.join(self.work, "lstm_relu.torch")
        p = run("export-model", "--model", model, "-o", out, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("activation=relu", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "model.json")))

    def test_loader_refuses_tampering(self):
        model = self.train("tamper", "--cell", "simple_rnn", "--units", "4")
        out = os.path.join(self.work, "tamper.torch")
        run("export-model", "--model", model, "-o", out)
        cfg = hpsweep.torch.read_config(out)
        first = os.path.join(out, cfg["tensors"][0]["file"])
        with open(first, "ab") as f:
            f.write(b"\0\0\0\0")
        with self.assertRaisesRegex(ValueError, "recurrent.0.forward.kernel must be"):
            hpsweep.torch.load(out)
        with open(first, "r+b") as f:
            f.truncate(os.path.getsize(first) - 4)
        hpsweep.torch.load(out)  # whole again
        cfg["tensors"][0]["file"] = "../" + cfg["tensors"][0]["file"]
        cfg["units"] = 5
        with open(os.path.join(out, "model.json"), "w") as f:
            json.dump(cfg, f)
        with self.assertRaisesRegex(ValueError, "shape"):
            hpsweep.torch.load(out)
        cfg["units"] = 4
        with open(os.path.join(out, "model.json"), "w") as f:
            json.dump(cfg, f)
        with self.assertRaisesRegex(ValueError, "plain file name"):
            hpsweep.torch.load(out)
        cfg["cell"] = "lstm"
        cfg["activation"] = "relu"
        with open(os.path.join(out, "model.json"), "w") as f:
            json.dump(cfg, f)
        with self.assertRaisesRegex(ValueError, "activation"):
            hpsweep.torch.load(out)

    def test_package_imports_without_torch(self):
        code = ("import sys; sys.modules['torch'] = None; sys.path.insert(0, %r); "
                "import hpsweep, hpsweep.torch; print('ok')" % os.path.join(REPO, "python"))
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           universal_newlines=True)
        self.assertEqual(p.stdout.strip(), "ok")


if __name__ == "__main__":
    HPSWEEP = os.path.abspath(sys.argv.pop(1))
    MNIST = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith(
        "-") else os.environ.get("HPSWEEP_DATA_DIR") or os.path.join(REPO, "data", "mnist"))
    unittest.main()
