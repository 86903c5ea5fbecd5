"""A trial's params as typed Python values, the mirror of search/params_json.h.

The coordinator keeps params in their text form ("128", "0.001", "[64, 32]", "true") and the
leaderboard's protobuf rows carry that text; exports from a current coordinator are typed
already, from an older one they are text. typed_params gives the same typed values either way:
a value that is not a string is kept as it is, a text that does not parse as its key's type stays
text (nothing is lost, nothing invented), and keys this table does not know are typed by their text.
"""

import math
import re

_INT = {"units", "layers", "batch_size", "epochs", "train_limit", "seed", "lr_every",
        "lr_decay_steps", "warmup_epochs", "lr_patience", "patience"}
_FLOAT = {"learning_rate", "momentum", "recurrent_dropout", "validation_split", "clipnorm",
          "clipvalue", "global_clipnorm", "weight_decay", "lr_drop", "lr_decay_rate", "lr_factor",
          "lr_min", "min_delta"}
_BOOL = {"nesterov", "validation_shuffle", "validation_stratify", "early_stopping",
         "restore_best_weights", "bidirectional"}
_INT_LIST = {"dense"}
_FLOAT_LIST = {"dropout"}
_STRING = {"cell", "activation", "dense_activation", "output", "optimizer", "loss", "validation",
           "label", "lr_schedule", "keep"}

_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?[0-9.eE+-]*[0-9][0-9.eE+-]*\Z")
_INT64_MIN, _UINT64_MAX = -(1 << 63), (1 << 64) - 1


def _int(s):
    if not _INT_RE.match(s):
        return None
    v = int(s)
    return v if _INT64_MIN <= v <= _UINT64_MAX else None


def _float(s):
    if not _FLOAT_RE.match(s):
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _bool(s):
    return {"true": True, "false": False}.get(s)


def _list(s, item):
    body = s
    if body.startswith("["):
        if not body.endswith("]"):
            return None
        body = body[1:-1]
    if not body.strip():
        return []
    out = []
    for part in body.split(","):
        v = item(part.strip(" \t"))
        if v is None:
            return None
        out.append(v)
    return out


def _any(s):
    for parse in (_bool, _int, _float):
        v = parse(s)
        if v is not None:
            return v
    if s.startswith("["):
        return _list(s, _float)
    return None


def typed_value(key, value):
    """The typed value of one param; `value` in its text form, or already typed."""
    if not isinstance(value, str):
        return value
    if key in _STRING:
        return value
    if key in _INT:
        v = _int(value)
        if v is not None and key != "seed" and v > (1 << 63) - 1:
            v = None
        if v is not None and key == "seed" and v < 0:
            v = None
    elif key in _FLOAT:
        v = _float(value)
    elif key in _BOOL:
        v = _bool(value)
    elif key in _INT_LIST:
        v = _list(value, _int)
    elif key in _FLOAT_LIST:
        v = _list(value, _float)
    else:
        v = _any(value)
    return value if v is None else v


def typed_params(params):
    """A dict of every param typed: {"units": 128, "dense": [64], "cell": "lstm", ...}."""
    return {key: typed_value(key, value) for key, value in sorted(params.items())}
