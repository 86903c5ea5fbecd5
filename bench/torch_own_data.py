#!/usr/bin/python3
"""hpsweep against PyTorch on a user's own data: a synthetic time-series CSV.

Makes a CSV data set (train.csv, test.csv: rows `label,x(0,0),x(0,1),...,x(T-1,F-1)`), then trains
the same model on it twice and prints both side by side:

  hpsweep   `hpsweep train --data-format csv ... --json` (the engine a sweep's trial runs, with
            the trial's keys: cell lstm, units, optimizer adam, learning_rate, batch_size,
            epochs, validation_split, seed)
  PyTorch   LSTM(F -> units) over the T steps of each row, its last output -> Dense(classes)
            softmax; Adam (Keras's eps 1e-7), sparse cross-entropy, the same batch size and
            epochs, the last validation_split of the training rows held out (as Keras and
            hpsweep do), Keras's initialisation (Glorot-uniform kernels, orthogonal recurrent
            weights, forget-gate bias 1).

The data: class c (0..C-1) is a noisy sine of frequency (c+1)/(2T) cycles per step with a random
phase and amplitude in every feature, plus Gaussian noise; the classes differ only in frequency,
so a model must look at the whole sequence.

Needs Debian's python3-torch (use /usr/bin/python3, not pyenv's) and a built hpsweep:

    /usr/bin/python3 bench/torch_own_data.py --hpsweep build/cli/hpsweep [--threads 1]
"""
import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time


def make_csv(path, rows, steps, features, classes, noise, seed):
    rng = random.Random(seed)
    with open(path, "w") as out:
        out.write("label," + ",".join(f"t{t}f{f}" for t in range(steps) for f in range(features)))
        out.write("\n")
        for i in range(rows):
            c = rng.randrange(classes)
            w = 2 * math.pi * (c + 1) / (2 * steps)
            params = [(rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 1.5)) for _ in range(features)]
            vals = []
            for t in range(steps):
                for phase, amp in params:
                    vals.append(f"{amp * math.sin(w * t + phase) + rng.gauss(0, noise):.4f}")
            out.write(f"{c}," + ",".join(vals) + "\n")


def load_csv(path):
    xs, ys = [], []
    with open(path) as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split(",")
            ys.append(int(parts[0]))
            xs.append([float(v) for v in parts[1:]])
    return xs, ys


def run_hpsweep(a, train, test):
    cmd = [a.hpsweep, "train", "--data-format", "csv", "--train-file", train, "--test-file", test,
           "--sequence-length", str(a.steps), "--cell", "lstm", "--units", str(a.units),
           "--optimizer", "adam", "--learning-rate", str(a.lr), "--batch-size", str(a.batch_size),
           "--epochs", str(a.epochs), "--validation-split", str(a.validation_split),
           "--seed", str(a.seed), "--threads", str(a.threads), "--json"]
    t0 = time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    j = json.loads(out)
    train_s = sum(e["seconds"] for e in j["history"])
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    return {"val": j["history"][-1]["val_accuracy"], "test": j["test_accuracy"],
            "train_s": train_s, "wall_s": wall, "cpu_s": cpu, "cmd": " ".join(cmd)}


def run_torch(a, train, test):
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    c0 = time.process_time()
    xs, ys = load_csv(train)
    tx, ty = load_csv(test)
    x = torch.tensor(xs).view(len(xs), a.steps, a.features)
    y = torch.tensor(ys)
    tx = torch.tensor(tx).view(len(tx), a.steps, a.features)
    ty = torch.tensor(ty)
    split = int(len(x) * (1 - a.validation_split))  # the last fraction validates, as Keras
    xv, yv, x, y = x[split:], y[split:], x[:split], y[:split]
    classes = int(max(ys + ty.tolist())) + 1

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(a.features, a.units, batch_first=True)
            self.out = torch.nn.Linear(a.units, classes)
            # Keras's initialisation (hpsweep follows Keras).
            u = a.units
            # Over the whole (4u, F) and (4u, u) matrices, as Keras's (F, 4u) and (u, 4u).
            torch.nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
            torch.nn.init.orthogonal_(self.lstm.weight_hh_l0)
            with torch.no_grad():
                self.lstm.bias_ih_l0.zero_()
                self.lstm.bias_hh_l0.zero_()
                self.lstm.bias_ih_l0[u:2 * u] = 1.0  # PyTorch's gate order: i, f, g, o
            torch.nn.init.xavier_uniform_(self.out.weight)
            torch.nn.init.zeros_(self.out.bias)

        def forward(self, v):
            h, _ = self.lstm(v)
            return self.out(h[:, -1, :])  # logits; CrossEntropyLoss applies the softmax

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def accuracy(vx, vy):
        net.eval()
        with torch.no_grad():
            right = sum((net(vx[i:i + 1024]).argmax(1) == vy[i:i + 1024]).sum().item()
                        for i in range(0, len(vx), 1024))
        net.train()
        return right / max(1, len(vx))

    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    val = 0.0
    for _ in range(a.epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), a.batch_size):
            b = perm[i:i + a.batch_size]
            opt.zero_grad()
            loss_fn(net(x[b]), y[b]).backward()
            opt.step()
        val = accuracy(xv, yv)  # each epoch, as hpsweep validates each epoch
    train_s = time.perf_counter() - t1
    test_acc = accuracy(tx, ty)
    return {"val": val, "test": test_acc, "train_s": train_s,
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "load_s": load_s, "version": torch.__version__}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hpsweep", default="build/cli/hpsweep")
    p.add_argument("--dir", default="", help="where the CSV files go (default: a temporary folder)")
    p.add_argument("--train-rows", type=int, default=8000)
    p.add_argument("--test-rows", type=int, default=2000)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--features", type=int, default=2)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--noise", type=float, default=0.6)
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--validation-split", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    # PyTorch's BLAS has a thread pool of its own (docs/benchmarks.md): held to --threads too,
    # before torch is imported, unless set by the caller.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    d = a.dir or tempfile.mkdtemp(prefix="hpsweep_own_")
    os.makedirs(d, exist_ok=True)
    train, test = os.path.join(d, "train.csv"), os.path.join(d, "test.csv")
    make_csv(train, a.train_rows, a.steps, a.features, a.classes, a.noise, a.seed)
    make_csv(test, a.test_rows, a.steps, a.features, a.classes, a.noise, a.seed + 1000)
    print(f"data: {a.train_rows} training rows (last {a.validation_split} validate), "
          f"{a.test_rows} test rows, {a.steps} steps x {a.features} features, {a.classes} classes "
          f"(chance {1 / a.classes:.2f}), in {d}")
    print(f"model: LSTM {a.units} -> Dense {a.classes} softmax; adam lr {a.lr}, batch "
          f"{a.batch_size}, {a.epochs} epochs, {a.threads} thread(s), seed {a.seed}")
    try:
        h = run_hpsweep(a, train, test)
        t = run_torch(a, train, test)
    finally:
        if not a.dir:
            shutil.rmtree(d, ignore_errors=True)
    print(f"hpsweep: {h['cmd']}")
    # train s: the epochs' wall time; total s: the whole run, reading the CSV included; cpu s:
    # CPU time of the whole run (on a shared machine wall time also counts waiting for a core).
    print(f"{'':10} {'val_acc':>8} {'test_acc':>9} {'train s':>8} {'total s':>8} {'cpu s':>7}")
    for name, r in (("hpsweep", h), ("pytorch", t)):
        print(f"{name:10} {r['val']:8.4f} {r['test']:9.4f} {r['train_s']:8.1f} {r['wall_s']:8.1f}"
              f" {r['cpu_s']:7.1f}")
    print(f"torch {t['version']}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")


if __name__ == "__main__":
    main()
