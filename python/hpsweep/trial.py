"""hpsweep.trial: the side of a training program that a worker runs as a trial (docs/programs.md).

Standard library only, so it works from any virtual or conda environment that can import this
package (or has python/ on sys.path); grpcio and protobuf are not needed.

    import hpsweep.trial as trial

    p = trial.params()                        # {"hidden": 64, "lr": 0.0031, "optimizer": "adam"}
    for epoch in range(trial.resume_epoch() + 1, trial.epochs() + 1):
        ...                                   # train; save files to trial.checkpoint_dir()
        if trial.report(epoch, val_f1=f1, val_loss=loss):
            break                             # told to stop: pruned or cancelled
    trial.final(test_f1=test_f1)

Under a worker (HPSWEEP_TRIAL is set):
- params(), info(), epochs(), seed(), resume_epoch() come from the trial's JSON file (read once);
  checkpoint_dir() is HPSWEEP_CHECKPOINT_DIR (else the file's checkpoint_dir); data_dir() is
  HPSWEEP_DATA_DIR.
- report() and final() write one JSON line each to the descriptor in HPSWEEP_REPORT_FD, with one
  os.write of the whole line (a loop only if the kernel takes part of it), so the worker never
  sees half a line. Values are checked here first and a bad one raises ValueError naming it: the
  worker would otherwise fail the whole trial. Epochs must follow on: resume_epoch() + 1 first,
  then the previous plus one, at most epochs().
- report() and should_stop() poll HPSWEEP_CONTROL_FD without blocking (poll with a zero
  timeout); once a `{"action": "stop"}` line (or a bare `stop`) has arrived they return True for
  the rest of the process. The end of that stream alone is not a stop.
- Neither descriptor is ever closed. Interrupted system calls are retried (PEP 475). If the worker
  has gone (the report descriptor's reader is closed), report() and final() raise
  BrokenPipeError with a message that says so; the worker's supervisor ends the trial's process
  group in that case anyway, so a program need not catch it.

Run by hand (HPSWEEP_TRIAL unset), e.g. `python train.py --lr=0.01 --epochs=2`:
- params() parses every `--name=value` argument of sys.argv with the worker's typing rules (an
  integer, else a finite number, else true/false as a bool, else the text); other arguments are
  ignored, so a program may still use argparse for its own.
- epochs() is the `--epochs` param (else 1), seed() the `--seed` param (else 0), resume_epoch() 0.
- checkpoint_dir() is HPSWEEP_CHECKPOINT_DIR if set, else a fresh temporary folder
  (hpsweep-checkpoint-*, made once per process and left in place so it can be looked at).
- report() and final() print their line to standard output (same checks) and report() returns
  False; should_stop() is False.
"""

import json
import math
import os
import re
import select
import sys
import tempfile

__all__ = ["params", "info", "epochs", "resume_epoch", "seed", "checkpoint_dir", "data_dir",
           "report", "should_stop", "final"]

MAX_METRICS = 64
MAX_LINE_BYTES = 64 * 1024
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")
_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_ARG_RE = re.compile(r"--([^=]+)=(.*)\Z", re.DOTALL)

# Per-process state: the trial's JSON once read, the stop once seen, the epochs reported.
_info = None
_checkpoint_dir = None
_stopped = False
_control_done = False  # the control stream ended (or is unusable): stop polling it
_control_buffer = b""
_last_epoch = None
_final_sent = False


def _in_hpsweep():
    return bool(os.environ.get("HPSWEEP_TRIAL"))


def _typed(text):
    """A param's value from its text, as the worker types it: int, float, bool, else str."""
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        value = float(text)
        if math.isfinite(value):
            return value
    if text in ("true", "false"):
        return text == "true"
    return text


def _argv_params(argv):
    out = {}
    for arg in argv:
        m = _ARG_RE.match(arg)
        if m:
            out[m.group(1)] = _typed(m.group(2))
    return out


def _trial_file():
    """The trial's JSON (HPSWEEP_TRIAL), read and checked once."""
    global _info
    if _info is None:
        path = os.environ["HPSWEEP_TRIAL"]
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeError("hpsweep.trial: cannot read the trial file HPSWEEP_TRIAL=%s: %s"
                               % (path, e)) from e
        if not isinstance(data, dict) or not isinstance(data.get("params", {}), dict):
            raise RuntimeError("hpsweep.trial: the trial file %s is not a JSON object with a "
                               "'params' object" % path)
        _info = data
    return _info


def params():
    """The trial's params, typed: {"hidden": 64, "lr": 0.0031, "optimizer": "adam", ...}.

    From the HPSWEEP_TRIAL file under a worker, else from sys.argv's `--name=value` arguments."""
    if _in_hpsweep():
        return dict(_trial_file().get("params", {}))
    return _argv_params(sys.argv[1:])


def _param_int(name, default):
    value = params().get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def info():
    """The whole trial JSON (sweep, sweep_id, trial, attempt, params, epochs, seed, resume_epoch,
    checkpoint_dir, metric, goal); run by hand, the same keys with the values used by hand
    (sweep, sweep_id, trial, metric and goal None)."""
    if _in_hpsweep():
        return dict(_trial_file())
    return {"sweep": None, "sweep_id": None, "trial": None, "attempt": 1, "params": params(),
            "epochs": epochs(), "seed": seed(), "checkpoint_dir": checkpoint_dir(),
            "resume_epoch": 0, "metric": None, "goal": None}


def epochs():
    """The trial's epoch budget (the last epoch report() may name)."""
    if _in_hpsweep():
        value = _trial_file().get("epochs")
        return value if isinstance(value, int) else _param_int("epochs", 1)
    return _param_int("epochs", 1)


def resume_epoch():
    """The epoch the restored checkpoint was saved after (0: start afresh); report from the next."""
    if _in_hpsweep():
        return int(_trial_file().get("resume_epoch", 0) or 0)
    return 0


def seed():
    """The trial's seed (run by hand: the `--seed` param, else 0)."""
    if _in_hpsweep():
        value = _trial_file().get("seed")
        return value if isinstance(value, int) else _param_int("seed", 0)
    return _param_int("seed", 0)


def checkpoint_dir():
    """The folder whose files the worker saves with each epoch line and restores on a resume."""
    global _checkpoint_dir
    path = os.environ.get("HPSWEEP_CHECKPOINT_DIR")
    if not path and _in_hpsweep():
        path = _trial_file().get("checkpoint_dir")
    if not path:
        if _checkpoint_dir is None:
            _checkpoint_dir = tempfile.mkdtemp(prefix="hpsweep-checkpoint-")
        path = _checkpoint_dir
    return path


def data_dir():
    """The worker's data folder (HPSWEEP_DATA_DIR, its MNIST files), or None."""
    return os.environ.get("HPSWEEP_DATA_DIR") or None


def _fd(variable):
    """The descriptor named by an environment variable, or None when it is unset."""
    text = os.environ.get(variable)
    if not text:
        return None
    if not text.isdigit():
        raise RuntimeError("hpsweep.trial: %s=%r is not a descriptor number" % (variable, text))
    return int(text)


def _poll_control():
    """Reads whatever the control stream holds now, without blocking; True once told to stop."""
    global _stopped, _control_done, _control_buffer
    fd = None if (_stopped or _control_done) else _fd("HPSWEEP_CONTROL_FD")
    while fd is not None and not _stopped:
        try:
            chunk = os.read(fd, 4096) if _readable(fd) else None
        except OSError:
            _control_done = True  # closed or not a stream: nothing more can come
            break
        if chunk is None:
            break
        if not chunk:
            _control_done = True
            break
        _control_buffer += chunk
        *lines, _control_buffer = _control_buffer.split(b"\n")
        _stopped = any(_is_stop(line) for line in lines)
    return _stopped


def _readable(fd):
    """Whether a read of fd would not block now (data, its end, or an error to read)."""
    if hasattr(select, "poll"):  # any descriptor number (select() stops at 1023)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def _is_stop(line):
    line = line.strip()
    if line == b"stop":
        return True
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("action") == "stop"


def should_stop():
    """True once the worker has told this trial to stop (pruned or cancelled); never blocks."""
    return _poll_control()


def _number(name, value):
    """A metric's value as a finite float; numpy and torch scalars go through float()."""
    if isinstance(value, (bool, str, bytes)) or type(value).__name__ == "bool_":
        raise ValueError("hpsweep.trial: metric %r: expected a number, got %s"
                         % (name, type(value).__name__))
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError("hpsweep.trial: metric %r: expected a number, got %r (%s)"
                         % (name, value, e)) from None
    if not math.isfinite(number):
        raise ValueError("hpsweep.trial: metric %r: %r is not finite" % (name, number))
    return number


def _line(fields, metrics):
    if len(metrics) > MAX_METRICS:
        raise ValueError("hpsweep.trial: %d metrics in one line, at most %d"
                         % (len(metrics), MAX_METRICS))
    for name, value in metrics.items():
        if not _NAME_RE.match(name):
            raise ValueError("hpsweep.trial: metric name %r: expected [A-Za-z_][A-Za-z0-9_.-]"
                             "{0,63}" % name)
        fields[name] = _number(name, value)
    data = (json.dumps(fields, allow_nan=False) + "\n").encode("utf-8")
    if len(data) > MAX_LINE_BYTES:
        raise ValueError("hpsweep.trial: a line of %d bytes, at most %d"
                         % (len(data), MAX_LINE_BYTES))
    return data


def _send(data):
    fd = _fd("HPSWEEP_REPORT_FD")
    if fd is None:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)  # all of it at once unless a signal cut it short
        except BrokenPipeError as e:
            raise BrokenPipeError(
                "hpsweep.trial: the worker is gone (HPSWEEP_REPORT_FD=%d has no reader)" % fd
            ) from e
        except OSError as e:
            raise RuntimeError("hpsweep.trial: cannot write to HPSWEEP_REPORT_FD=%d: %s"
                               % (fd, e)) from e
        view = view[written:]


def report(epoch, **metrics):
    """Reports one epoch's metrics; True when the trial has been told to stop.

    `epoch` is an int: resume_epoch() + 1 first, then the previous plus one, at most epochs().
    Each metric name matches [A-Za-z_][A-Za-z0-9_.-]{0,63} (use **{"a.b": x} for a dotted one),
    each value is a finite number, at most 64 metrics. A bad line raises ValueError, written
    nowhere."""
    global _last_epoch
    if _final_sent:
        raise RuntimeError("hpsweep.trial: report() after final(): nothing may follow the "
                           "final line")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise ValueError("hpsweep.trial: epoch: expected an int, got %r" % (epoch,))
    if _in_hpsweep():
        expected = (resume_epoch() if _last_epoch is None else _last_epoch) + 1
        if epoch != expected:
            raise ValueError("hpsweep.trial: epoch %d out of order: expected %d"
                             % (epoch, expected))
        if epoch > epochs():
            raise ValueError("hpsweep.trial: epoch %d past the trial's %d epochs"
                             % (epoch, epochs()))
    elif epoch < 1:
        raise ValueError("hpsweep.trial: epoch %d: the first epoch is 1" % epoch)
    _send(_line({"epoch": epoch}, metrics))
    _last_epoch = epoch
    return _poll_control()


def final(**metrics):
    """Reports the trial's final (test) metrics: the line without an epoch, at most once, last."""
    global _final_sent
    if _final_sent:
        raise RuntimeError("hpsweep.trial: final() called twice: the final line is sent once")
    if not metrics:
        raise ValueError("hpsweep.trial: final() needs at least one metric")
    _send(_line({}, metrics))
    _final_sent = True
