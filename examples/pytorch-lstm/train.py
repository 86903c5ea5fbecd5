#!/usr/bin/env python3
"""An LSTM on MNIST in PyTorch, written as an hpsweep program (docs/programs.md).

Each image is read as a sequence: 28 steps (its rows) of 28 features (the pixels of a row). An
LSTM (`hidden` units, `layers` deep) reads them, and a linear layer on its last output gives the
10 classes. Each epoch trains on the training slice, evaluates on the validation split (the last
10% of the slice), saves a checkpoint and reports epoch, val_accuracy, val_loss, train_loss and
val_f1 (macro F1). At the end it evaluates the test set and reports test_accuracy and test_f1.

Under a worker (hpsweep worker --program torch-lstm=examples/pytorch-lstm/train.py) everything
comes from hpsweep.trial: params, epochs, seed, data and checkpoint folders; the checkpoint
(model, optimizer, epoch) is written to a temporary name and renamed into place before each
epoch's line, a resumed trial (resume_epoch > 0) goes on from it, and a stop (pruned or
cancelled) ends the program at once, without the test evaluation. By hand:

    /usr/bin/python3 examples/pytorch-lstm/train.py --hidden=64 --lr=0.003 --epochs=2 \\
        --train_limit=2000 --data-dir=data/mnist

Params (all `--name=value`): hidden (int, 64), layers (int, 1), lr (float, 0.001), optimizer
(adam | sgd | rmsprop, adam), momentum (sgd's, 0.9), batch_size (int, 128), epochs (int, 1),
train_limit (int, 0: all 60000 training images), clip (gradient norm, 1.0; 0: none), seed (the
trial's seed), threads (torch threads, 1). The MNIST IDX files (plain or .gz) are read from
HPSWEEP_DATA_DIR, else --data-dir, else ./data/mnist or the repository's data/mnist.
Needs PyTorch (Debian 12: apt-get install python3-torch; run with /usr/bin/python3).
"""

import gzip
import os
import struct
import sys
import time
from pathlib import Path

try:
    import hpsweep.trial as trial
except ImportError:  # not installed: the package in this repository's python/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    import hpsweep.trial as trial

try:
    import torch
except ImportError:
    raise SystemExit("train.py: %s cannot import torch: install PyTorch for it, or run this "
                     "script with a python that has it (Debian 12: apt-get install python3-torch, "
                     "then /usr/bin/python3)" % sys.executable)

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = "model.pt"
CLASSES = 10
STOP_CHECK_BATCHES = 20  # how often (in batches) an epoch looks for a stop


def read_idx(folder, name):
    """An IDX file (`name` or `name`.gz in `folder`) as a uint8 tensor of its shape."""
    for path in (folder / name, folder / (name + ".gz")):
        if path.is_file():
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as f:
                data = f.read()
            break
    else:
        raise SystemExit("train.py: %s not found in %s (plain or .gz)" % (name, folder))
    zero, dtype, ndims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit("train.py: %s is not an IDX file of unsigned bytes" % path)
    shape = struct.unpack(">%dI" % ndims, data[4:4 + 4 * ndims])
    body = bytearray(data[4 + 4 * ndims:])
    count = 1
    for d in shape:
        count *= d
    if len(body) != count:
        raise SystemExit("train.py: %s holds %d bytes, its header says %d"
                         % (path, len(body), count))
    return torch.frombuffer(body, dtype=torch.uint8).reshape(shape)


def load_mnist(folder, prefix):
    """(images as float [N, 28, 28] in [0, 1], labels as int64 [N]) of `train` or `t10k`."""
    images = read_idx(folder, prefix + "-images-idx3-ubyte").float() / 255.0
    labels = read_idx(folder, prefix + "-labels-idx1-ubyte").long()
    return images, labels


def data_folder(p):
    folder = trial.data_dir() or p.get("data-dir") or p.get("data_dir")
    if folder:
        return Path(folder)
    for candidate in (Path("data/mnist"), REPO / "data" / "mnist"):
        if candidate.is_dir():
            return candidate
    return Path("data/mnist")


class Net(torch.nn.Module):
    def __init__(self, hidden, layers):
        super().__init__()
        self.lstm = torch.nn.LSTM(28, hidden, num_layers=layers, batch_first=True)
        self.out = torch.nn.Linear(hidden, CLASSES)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(h[:, -1, :])


def make_optimizer(name, parameters, lr, momentum):
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    raise SystemExit("train.py: optimizer %r: expected adam, sgd or rmsprop" % name)


def macro_f1(labels, predicted):
    """Macro F1 over the classes that occur in the labels or the predictions (as sklearn)."""
    confusion = torch.bincount(labels * CLASSES + predicted,
                               minlength=CLASSES * CLASSES).reshape(CLASSES, CLASSES).double()
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (times it is the label + times it is predicted).
    both = confusion.sum(1) + confusion.sum(0)
    present = both > 0
    return float((2 * confusion.diag()[present] / both[present]).mean())


def evaluate(net, images, labels, batch_size=1000):
    """(accuracy, mean loss, macro F1) of `net` on a set."""
    net.eval()
    loss_sum, predicted = 0.0, []
    with torch.no_grad():
        for lo in range(0, len(images), batch_size):
            logits = net(images[lo:lo + batch_size])
            y = labels[lo:lo + batch_size]
            loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            predicted.append(logits.argmax(1))
    predicted = torch.cat(predicted)
    accuracy = float((predicted == labels).double().mean())
    return accuracy, loss_sum / len(images), macro_f1(labels, predicted)


def train_epoch(net, optimizer, images, labels, batch_size, clip, generator):
    """Trains one epoch in a shuffled order; the mean training loss, or None if told to stop."""
    net.train()
    order = torch.randperm(len(images), generator=generator)
    loss_sum = 0.0
    for step, lo in enumerate(range(0, len(images), batch_size)):
        if step % STOP_CHECK_BATCHES == 0 and trial.should_stop():
            return None
        idx = order[lo:lo + batch_size]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(images[idx]), labels[idx])
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        optimizer.step()
        loss_sum += float(loss) * len(idx)
    return loss_sum / len(images)


def save_checkpoint(folder, net, optimizer, epoch):
    """Writes the checkpoint to a temporary name, then renames it into place."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (CHECKPOINT + ".tmp")
    torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
               tmp)
    os.replace(tmp, folder / CHECKPOINT)


def load_checkpoint(folder, net, optimizer, epoch):
    path = folder / CHECKPOINT
    if not path.is_file():
        raise SystemExit("train.py: resume_epoch %d but no checkpoint at %s" % (epoch, path))
    state = torch.load(path)
    if state["epoch"] != epoch:
        raise SystemExit("train.py: the checkpoint %s was saved after epoch %d, resume_epoch is %d"
                         % (path, state["epoch"], epoch))
    net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])


def main():
    p = trial.params()
    hidden, layers = int(p.get("hidden", 64)), int(p.get("layers", 1))
    lr, name = float(p.get("lr", 1e-3)), str(p.get("optimizer", "adam"))
    batch_size, limit = int(p.get("batch_size", 128)), int(p.get("train_limit", 0))
    clip, seed = float(p.get("clip", 1.0)), int(p.get("seed", trial.seed()))
    epochs, start = trial.epochs(), trial.resume_epoch()
    torch.set_num_threads(int(p.get("threads", 1)))
    torch.manual_seed(seed)

    folder = data_folder(p)
    images, labels = load_mnist(folder, "train")
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    n_val = max(1, len(images) // 10)
    train_x, train_y = images[:-n_val], labels[:-n_val]
    val_x, val_y = images[-n_val:], labels[-n_val:]

    net = Net(hidden, layers)
    optimizer = make_optimizer(name, net.parameters(), lr, float(p.get("momentum", 0.9)))
    checkpoints = Path(trial.checkpoint_dir())
    if start > 0:
        load_checkpoint(checkpoints, net, optimizer, start)
    print("train.py: LSTM %d x %d, %s lr %g, batch %d, %d training and %d validation images, "
          "epochs %d to %d" % (hidden, layers, name, lr, batch_size, len(train_x), len(val_x),
                               start + 1, epochs), file=sys.stderr, flush=True)

    for epoch in range(start + 1, epochs + 1):
        t0 = time.monotonic()
        # The order depends on the seed and the epoch only: a resumed trial trains as an
        # uninterrupted one would.
        generator = torch.Generator().manual_seed(seed * 1000003 + epoch)
        train_loss = train_epoch(net, optimizer, train_x, train_y, batch_size, clip, generator)
        if train_loss is None:
            return  # told to stop mid-epoch
        val_accuracy, val_loss, val_f1 = evaluate(net, val_x, val_y)
        save_checkpoint(checkpoints, net, optimizer, epoch)
        print("train.py: epoch %d in %.1f s" % (epoch, time.monotonic() - t0), file=sys.stderr,
              flush=True)
        if trial.report(epoch, val_accuracy=val_accuracy, val_loss=val_loss,
                        train_loss=train_loss, val_f1=val_f1):
            return  # pruned or cancelled: no test evaluation

    test_x, test_y = load_mnist(folder, "t10k")
    test_accuracy, _, test_f1 = evaluate(net, test_x, test_y)
    trial.final(test_accuracy=test_accuracy, test_f1=test_f1)


if __name__ == "__main__":
    main()
