#!/usr/bin/python3
"""The peer a user would pick instead of hpsweep's search: Optuna's TPE with a pruner, driving PyTorch.

The same search space as sweeps/design-grid.yaml (LSTM units x activation x optimizer x batch size x
layers), the same data (the first --train-limit MNIST training images, the last 20% of them held out
for validation, as Keras's validation_split and hpsweep do) and the same model and optimizers:
stacked LSTM(units, activation) -> Dense(10, softmax), sparse categorical cross-entropy, Keras's
defaults (Adam and RMSprop at lr 1e-3 with epsilon 1e-7 and rho 0.9, SGD at 0.01, no momentum).
PyTorch's nn.LSTM has no activation choice, so the relu variant runs a hand-written LSTM over the
28 time steps (the input projection of all steps in one matmul, as hpsweep's engine does); tanh
uses nn.LSTM.

Trials run --jobs at a time (Optuna's n_jobs, threads), each with --threads torch threads, like
hpsweep's `--workers 2 --threads 1`. Each epoch reports the validation accuracy to the pruner. The
run ends after --trials trials, or when a trial reaches --target validation accuracy, or after
--timeout seconds. It prints one JSON object a line: each finished trial, then a summary with the
seconds until the first trial at or above --target and the best validation accuracy over time
(`best_curve`: [seconds, accuracy] each time an epoch beat the best so far).

    /usr/bin/python3 bench/optuna_search.py --data-dir data/mnist --target 0.97 \
        [--pruner sha|median|none] [--trials N] [--epochs 2] [--jobs 2] [--threads 1] [--seed 1]

Needs Debian's python3-torch and python3-optuna (apt-get install python3-torch python3-optuna).
"""
import argparse
import json
import os
import struct
import sys
import threading
import time

import warnings

import numpy as np
import optuna
import torch

UNITS = [32, 48, 96, 128, 256]
ACTIVATIONS = ["tanh", "relu"]
OPTIMIZERS = ["adam", "rmsprop", "sgd"]
BATCH_SIZES = [32, 64, 128]
LAYERS = [1, 2, 3]


def read_idx(path, limit=None):
    """An IDX file (ubyte) as a numpy array; the first `limit` items when given."""
    with open(path, "rb") as f:
        magic = f.read(4)
        if len(magic) != 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 0x08:
            raise ValueError(f"{path}: not an unsigned-byte IDX file")
        ndim = magic[3]
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        n = dims[0] if limit is None else min(dims[0], limit)
        count = n * int(np.prod(dims[1:], dtype=np.int64))
        data = np.frombuffer(f.read(count), dtype=np.uint8)
        if data.size != count:
            raise ValueError(f"{path}: truncated")
        return data.reshape((n,) + tuple(dims[1:]))


def load(data_dir, train_limit, validation_split):
    x = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte"), train_limit)
    y = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte"), train_limit)
    x = torch.from_numpy(x.astype(np.float32) / 255.0)  # (N, 28, 28): 28 steps of 28 pixels
    y = torch.from_numpy(y.astype(np.int64))
    n_val = int(round(len(x) * validation_split))
    n_train = len(x) - n_val  # Keras's validation_split holds out the LAST fraction
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


class ReluLSTM(torch.nn.Module):
    """One LSTM layer with relu as its activation (the cell input and output), sigmoid gates."""

    def __init__(self, inputs, units):
        super().__init__()
        self.units = units
        self.wx = torch.nn.Linear(inputs, 4 * units)
        self.wh = torch.nn.Linear(units, 4 * units, bias=False)

    def forward(self, x):  # x is (B, T, F); returns (B, T, units)
        b, t, _ = x.shape
        xp = self.wx(x)  # every step's input projection in one matmul
        h = x.new_zeros(b, self.units)
        c = x.new_zeros(b, self.units)
        out = []
        for s in range(t):
            z = xp[:, s, :] + self.wh(h)
            i, f, g, o = z.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
            h = torch.sigmoid(o) * torch.relu(c)
            out.append(h)
        return torch.stack(out, dim=1)


class Net(torch.nn.Module):
    def __init__(self, units, activation, layers):
        super().__init__()
        if activation == "tanh":
            self.rnn = torch.nn.LSTM(28, units, num_layers=layers, batch_first=True)
        else:
            self.rnn = torch.nn.Sequential(
                *[ReluLSTM(28 if i == 0 else units, units) for i in range(layers)])
        self.out = torch.nn.Linear(units, 10)

    def forward(self, x):
        h = self.rnn(x)
        if isinstance(h, tuple):
            h = h[0]
        return self.out(h[:, -1, :])


def make_optimizer(name, params):
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)
    return torch.optim.SGD(params, lr=0.01)


def accuracy(net, x, y, batch=512):
    net.eval()
    correct = 0
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            correct += (net(x[lo:lo + batch]).argmax(1) == y[lo:lo + batch]).sum().item()
    net.train()
    return correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="data/mnist")
    p.add_argument("--train-limit", type=int, default=12000)
    p.add_argument("--validation-split", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--trials", type=int, default=270)
    p.add_argument("--target", type=float, default=2.0, help="stop at this val accuracy")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--pruner", choices=["sha", "median", "none"], default="sha")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    x_train, y_train, x_val, y_val = load(a.data_dir, a.train_limit, a.validation_split)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    pruner = {"sha": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
              "median": optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
              "none": optuna.pruners.NopPruner()}[a.pruner]
    sampler = optuna.samplers.TPESampler(seed=a.seed, multivariate=True, constant_liar=True)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    start = time.perf_counter()
    lock = threading.Lock()
    state = {"reached": None, "epochs": 0, "best": 0.0, "curve": []}

    def objective(trial):
        units = trial.suggest_categorical("units", UNITS)
        activation = trial.suggest_categorical("activation", ACTIVATIONS)
        optimizer = trial.suggest_categorical("optimizer", OPTIMIZERS)
        batch = trial.suggest_categorical("batch_size", BATCH_SIZES)
        layers = trial.suggest_categorical("layers", LAYERS)
        torch.manual_seed(a.seed)
        net = Net(units, activation, layers)
        opt = make_optimizer(optimizer, net.parameters())
        loss_fn = torch.nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(a.seed)
        best = 0.0
        for epoch in range(1, a.epochs + 1):
            order = torch.randperm(len(x_train), generator=gen)
            for lo in range(0, len(order), batch):
                idx = order[lo:lo + batch]
                opt.zero_grad()
                loss = loss_fn(net(x_train[idx]), y_train[idx])
                loss.backward()
                opt.step()
            val = accuracy(net, x_val, y_val)
            best = max(best, val)
            with lock:
                state["epochs"] += 1
                if val > state["best"]:  # the best so far, and when: [seconds, val_accuracy]
                    state["curve"].append([round(time.perf_counter() - start, 2), val])
                state["best"] = max(state["best"], val)
                if val >= a.target and state["reached"] is None:
                    state["reached"] = time.perf_counter() - start
                    study.stop()
            trial.report(val, epoch)
            if trial.should_prune():
                print(json.dumps({"trial": trial.number, "pruned_at": epoch, "val_accuracy": val,
                                  "params": trial.params}), flush=True)
                raise optuna.TrialPruned()
        print(json.dumps({"trial": trial.number, "val_accuracy": best, "params": trial.params,
                          "seconds": round(time.perf_counter() - start, 1)}), flush=True)
        return best

    study.optimize(objective, n_trials=a.trials, timeout=a.timeout, n_jobs=a.jobs,
                   gc_after_trial=False)
    print(json.dumps({
        "summary": True, "pruner": a.pruner, "trials": len(study.trials),
        "epochs_trained": state["epochs"], "best_val_accuracy": state["best"],
        "target": a.target, "seconds_to_target": state["reached"], "best_curve": state["curve"],
        "seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__, "optuna": optuna.__version__}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
