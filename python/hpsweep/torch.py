"""Load a model exported by `hpsweep export-model --format torch -o DIR` as a torch.nn.Module.

    import hpsweep.torch
    model = hpsweep.torch.load("DIR")        # eval mode, float32, on the CPU
    probs = model(x)                         # x: (batch, steps, features) float32, or
                                             #    (batch, steps * features); pixels / 255
    logits = model.logits(x)                 # before the softmax

The folder holds model.json (the architecture and a list of tensors) and one raw little-endian
float32 file per tensor in hpsweep's (Keras's) layouts; nothing is unpickled. load() builds
torch.nn.RNN / LSTM / GRU (one per layer, batch_first) and Linear layers and maps the weights:
kernels transposed, GRU gates from Keras's z, r, h to torch's r, z, n (reset_after: the
recurrent bias is torch's bias_hh), the backward direction of a bidirectional layer to the
`_reverse` parameters. Its probabilities equal `hpsweep predict`'s (to float32 rounding).

torch is imported inside the functions, so that `import hpsweep` works without it. Every value
read from the folder is checked; a bad one is a ValueError naming the file and the key.
"""

import json
import os
import sys

FORMAT = "hpsweep-torch"
VERSION = 1
MAX_JSON_BYTES = 1 << 20
MAX_DIM = 1 << 20            # any one width
MAX_TENSOR_VALUES = 1 << 28  # 1 GiB of float32
MAX_LAYERS = 1000

_CELLS = ("dense", "simple_rnn", "lstm", "gru")
_DENSE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")


def _fail(where, message):
    raise ValueError("%s: %s" % (where, message))


def _int(cfg, key, where, lo=1, hi=MAX_DIM):
    v = cfg.get(key)
    if type(v) is not int or not lo <= v <= hi:
        _fail(where, "%s must be an integer in [%d, %d], not %r" % (key, lo, hi, v))
    return v


def _choice(cfg, key, where, allowed):
    v = cfg.get(key)
    if v not in allowed:
        _fail(where, "%s must be one of %s, not %r" % (key, ", ".join(allowed), v))
    return v


def read_config(path):
    """The checked model.json of an export folder, as a dict."""
    where = os.path.join(path, "model.json")
    try:
        with open(where, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        _fail(where, "cannot read: %s" % e.strerror)
    if len(raw) > MAX_JSON_BYTES:
        _fail(where, "over the limit of %d bytes" % MAX_JSON_BYTES)
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        _fail(where, "not JSON: %s" % e)
    if not isinstance(cfg, dict):
        _fail(where, "not a JSON object")
    if cfg.get("format") != FORMAT:
        _fail(where, "format must be %r, not %r" % (FORMAT, cfg.get("format")))
    if cfg.get("version") != VERSION:
        _fail(where, "version %r is not %d (a newer hpsweep wrote it?)" % (cfg.get("version"),
                                                                          VERSION))
    cell = _choice(cfg, "cell", where, _CELLS)
    _int(cfg, "units", where)
    _int(cfg, "layers", where, 1, MAX_LAYERS)
    _int(cfg, "steps", where)
    _int(cfg, "features", where)
    _int(cfg, "classes", where, 2)
    if cell == "lstm" or cell == "gru":
        _choice(cfg, "activation", where, ("tanh",))
    elif cell == "simple_rnn":
        _choice(cfg, "activation", where, ("tanh", "relu"))
    else:
        _choice(cfg, "activation", where, _DENSE_ACTIVATIONS)
    if type(cfg.get("bidirectional")) is not bool:
        _fail(where, "bidirectional must be true or false")
    if cell == "dense" and cfg["bidirectional"]:
        _fail(where, "bidirectional must be false for cell dense")
    dense = cfg.get("dense")
    if (not isinstance(dense, list) or len(dense) > MAX_LAYERS
            or any(type(w) is not int or not 1 <= w <= MAX_DIM for w in dense)):
        _fail(where, "dense must be a list of widths in [1, %d]" % MAX_DIM)
    _choice(cfg, "dense_activation", where, _DENSE_ACTIVATIONS)
    if not isinstance(cfg.get("tensors"), list):
        _fail(where, "tensors must be a list")
    return cfg


def _expected_tensors(cfg):
    """[(name, shape)] in the order hpsweep writes them (engine/torch_export.cc TorchTensors)."""
    out = []
    cell, h = cfg["cell"], cfg["units"]
    f = cfg["steps"] * cfg["features"] if cell == "dense" else cfg["features"]
    k = {"lstm": 4, "gru": 3}.get(cell, 1)
    dirs = 2 if cfg["bidirectional"] else 1
    for l in range(cfg["layers"]):
        if cell == "dense":
            out += [("hidden.%d.kernel" % l, [f, h]), ("hidden.%d.bias" % l, [h])]
            f = h
            continue
        for d in range(dirs):
            p = "recurrent.%d.%s." % (l, "forward" if d == 0 else "backward")
            out += [(p + "kernel", [f, k * h]), (p + "recurrent_kernel", [h, k * h]),
                    (p + "bias", [2, k * h] if cell == "gru" else [k * h])]
        f = dirs * h
    for i, w in enumerate(cfg["dense"]):
        out += [("dense.%d.kernel" % i, [f, w]), ("dense.%d.bias" % i, [w])]
        f = w
    out += [("output.kernel", [f, cfg["classes"]]), ("output.bias", [cfg["classes"]])]
    return out


def read_tensors(path, cfg):
    """{name: float32 torch.Tensor in hpsweep's layout} for every tensor of the export."""
    import torch

    expected = _expected_tensors(cfg)
    listed = cfg["tensors"]
    where = os.path.join(path, "model.json")
    if len(listed) != len(expected):
        _fail(where, "tensors lists %d tensors; the architecture has %d"
              % (len(listed), len(expected)))
    out = {}
    for entry, (name, shape) in zip(listed, expected):
        if not isinstance(entry, dict) or entry.get("name") != name:
            _fail(where, "tensors: expected %s here, found %r" % (name, entry))
        if entry.get("shape") != shape:
            _fail(where, "tensors: %s has shape %r, the architecture needs %r"
                  % (name, entry.get("shape"), shape))
        if entry.get("dtype") != "float32-le":
            _fail(where, "tensors: %s dtype must be float32-le" % name)
        fname = entry.get("file")
        # A plain name inside the folder: no path, no hidden file, no link.
        if (not isinstance(fname, str) or not fname or fname.startswith(".")
                or os.path.basename(fname) != fname or "\\" in fname):
            _fail(where, "tensors: %s file must be a plain file name, not %r" % (name, fname))
        n = 1
        for d in shape:
            n *= d
        if n > MAX_TENSOR_VALUES:
            _fail(where, "tensors: %s has %d values, over the limit of %d"
                  % (name, n, MAX_TENSOR_VALUES))
        fpath = os.path.join(path, fname)
        try:
            fd = os.open(fpath, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as f:
                raw = f.read(4 * n + 1)
        except OSError as e:
            _fail(fpath, "cannot read %s: %s" % (name, e.strerror))
        if len(raw) != 4 * n:
            _fail(fpath, "%s must be %d bytes (%d float32), not %s"
                  % (name, 4 * n, n, "more" if len(raw) > 4 * n else len(raw)))
        if sys.byteorder == "little":
            t = torch.frombuffer(bytearray(raw), dtype=torch.float32)
        else:  # each value's four bytes reversed
            b = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, 4).flip(1)
            t = b.contiguous().view(torch.float32).reshape(-1)
        if not torch.isfinite(t).all():
            _fail(fpath, "%s holds a NaN or an infinity" % name)
        out[name] = t.reshape(shape).clone()
    return out


def _activation(name):
    import torch.nn as nn
    return {"linear": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[name]()


def _torch_gates(w, cell, h):
    """Rows of a (k*h, ...) tensor (a kernel transposed, or a bias) from Keras's gate order to
    torch's: LSTM i,f,c,o is torch's i,f,g,o already; GRU z,r,h becomes r,z,n."""
    import torch
    if cell != "gru":
        return w
    return torch.cat([w[h:2 * h], w[0:h], w[2 * h:3 * h]], 0)


def _build(cfg, tensors):
    import torch
    import torch.nn as nn

    class HpsweepModel(nn.Module):
        """The exported hpsweep model: forward gives the class probabilities (softmax), as
        `hpsweep predict` prints them; logits() the output layer's values before it."""

        def __init__(self):
            super().__init__()
            self.config = dict(cfg)
            self.cell = cfg["cell"]
            self.steps, self.features = cfg["steps"], cfg["features"]
            self.bidirectional = cfg["bidirectional"]
            self.hidden = nn.ModuleList()
            self.recurrent = nn.ModuleList()
            h = cfg["units"]
            f = self.steps * self.features if self.cell == "dense" else self.features
            for _ in range(cfg["layers"]):
                if self.cell == "dense":
                    self.hidden.append(nn.Sequential(nn.Linear(f, h),
                                                     _activation(cfg["activation"])))
                    f = h
                    continue
                kw = dict(input_size=f, hidden_size=h, batch_first=True,
                          bidirectional=self.bidirectional)
                if self.cell == "simple_rnn":
                    layer = nn.RNN(nonlinearity=cfg["activation"], **kw)
                elif self.cell == "lstm":
                    layer = nn.LSTM(**kw)
                else:
                    layer = nn.GRU(**kw)
                self.recurrent.append(layer)
                f = (2 if self.bidirectional else 1) * h
            self.head = nn.ModuleList()
            for w in cfg["dense"]:
                self.head.append(nn.Sequential(nn.Linear(f, w),
                                               _activation(cfg["dense_activation"])))
                f = w
            self.output = nn.Linear(f, cfg["classes"])

        def logits(self, x):
            x = x.to(torch.float32)
            if self.cell == "dense":
                x = x.reshape(x.shape[0], self.steps * self.features)
                for layer in self.hidden:
                    x = layer(x)
            else:
                x = x.reshape(x.shape[0], self.steps, self.features)
                last = len(self.recurrent) - 1
                for i, layer in enumerate(self.recurrent):
                    seq, state = layer(x)
                    if i < last:
                        x = seq  # return_sequences: every step, both directions in time order
                        continue
                    hn = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
                    # The final states: forward's after the last step, backward's after the first
                    # (Keras's Bidirectional without return_sequences), not seq[:, -1].
                    x = torch.cat([hn[0], hn[1]], 1) if self.bidirectional else hn[0]
            for layer in self.head:
                x = layer(x)
            return self.output(x)

        def forward(self, x):
            return torch.softmax(self.logits(x), dim=1)

    model = HpsweepModel()
    h, cell = cfg["units"], cfg["cell"]
    with torch.no_grad():
        for l in range(cfg["layers"]):
            if cell == "dense":
                lin = model.hidden[l][0]
                lin.weight.copy_(tensors["hidden.%d.kernel" % l].t())
                lin.bias.copy_(tensors["hidden.%d.bias" % l])
                continue
            rnn = model.recurrent[l]
            for d, (direction, suffix) in enumerate((("forward", ""), ("backward", "_reverse"))):
                if d == 1 and not model.bidirectional:
                    break
                p = "recurrent.%d.%s." % (l, direction)
                getattr(rnn, "weight_ih_l0" + suffix).copy_(
                    _torch_gates(tensors[p + "kernel"].t(), cell, h))
                getattr(rnn, "weight_hh_l0" + suffix).copy_(
                    _torch_gates(tensors[p + "recurrent_kernel"].t(), cell, h))
                bias = tensors[p + "bias"]
                if cell == "gru":  # (2, 3H): input bias, recurrent bias (reset_after)
                    b_ih, b_hh = _torch_gates(bias[0], cell, h), _torch_gates(bias[1], cell, h)
                else:  # one bias: torch's second is zero
                    b_ih, b_hh = bias, torch.zeros_like(bias)
                getattr(rnn, "bias_ih_l0" + suffix).copy_(b_ih)
                getattr(rnn, "bias_hh_l0" + suffix).copy_(b_hh)
        for i in range(len(cfg["dense"])):
            lin = model.head[i][0]
            lin.weight.copy_(tensors["dense.%d.kernel" % i].t())
            lin.bias.copy_(tensors["dense.%d.bias" % i])
        model.output.weight.copy_(tensors["output.kernel"].t())
        model.output.bias.copy_(tensors["output.bias"])
    return model.eval()


def load(path):
    """The model exported to folder `path` as a torch.nn.Module in eval mode (float32, CPU)."""
    cfg = read_config(path)
    return _build(cfg, read_tensors(path, cfg))
