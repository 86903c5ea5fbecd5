"""hpsweep.Client: the coordinator's user calls (hpsweep.proto's "users" section) from Python.

Ownership: a Client owns one gRPC channel; close() (or a `with` block) releases it. Thread-safety:
one Client may be used from several threads at once (gRPC channels are), and each watch() iterator
from one thread.

Security as the C++ command line has it (auth/credentials.h): plaintext to a loopback coordinator
with nothing to set up; with tls_ca, TLS, and then the token (token=, else token_file=, else the
HPSWEEP_TOKEN environment variable) goes with every call as "authorization: Bearer TOKEN". A token
without tls_ca is refused: it would travel in the clear. The Client keeps no copy of the token
(only gRPC's call credentials hold it) and no repr or message shows it.
"""

import json
import os
import re
import stat

import grpc

from . import errors
from ._gen import hpsweep_pb2 as pb
from ._gen import hpsweep_pb2_grpc as pb_grpc
from ._params import typed_params

DEFAULT_ADDRESS = "127.0.0.1:50051"
# The limits the C++ client keeps (auth/tokens.h, auth/credentials.h, search/sweep_file.h).
MAX_TOKEN_BYTES = 256
MAX_TOKEN_FILE_BYTES = 4096
MAX_PEM_BYTES = 1 << 20
MAX_SWEEP_FILE_BYTES = 1 << 20
MAX_RECEIVE_BYTES = 256 << 20

_ADDRESS_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):([0-9]{1,5})\Z")


def _check_address(address):
    if not isinstance(address, str):
        raise errors.InvalidArgument("address: expected a 'HOST:PORT' string, got %r"
                                     % type(address).__name__)
    if address.startswith("unix:") and len(address) > 5:
        return
    m = _ADDRESS_RE.match(address)
    if len(address) > 256 or not m or not 1 <= int(m.group(1)) <= 65535:
        raise errors.InvalidArgument("address '%s': expected HOST:PORT, e.g. 127.0.0.1:50051 or "
                                     "nodeA:50051" % address[:80])


def _read_bounded(path, limit, what):
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise errors.NotFound("%s: %s not found" % (path, what)) from None
    except OSError as e:
        raise errors.InvalidArgument("%s: cannot read the %s: %s" % (path, what, e.strerror)) \
            from None
    if len(data) > limit:
        raise errors.InvalidArgument("%s: the %s is over the limit of %d bytes"
                                     % (path, what, limit))
    return data


def _check_token(token):
    if len(token) > MAX_TOKEN_BYTES:
        raise errors.InvalidArgument("the token is over the limit of %d bytes" % MAX_TOKEN_BYTES)
    if any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise errors.InvalidArgument("the token has a character that is not printable ASCII")
    return token


def _client_token(token, token_file):
    """The token to send, "" for none: token=, else token_file=, else $HPSWEEP_TOKEN."""
    if token is not None and token_file is not None:
        raise errors.InvalidArgument("give token or token_file, not both")
    if token is not None:
        if not isinstance(token, str):
            raise errors.InvalidArgument("token: expected a string")
        token = token.strip()
        if not token:
            raise errors.InvalidArgument("token: the token is empty")
        return _check_token(token)
    if token_file is not None:
        path = os.fspath(token_file)
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = None
        if mode is not None and stat.S_IMODE(mode) & 0o077:
            raise errors.InvalidArgument("%s: token file is readable or writable by other users; "
                                         "chmod 600 it" % path)
        text = _read_bounded(path, MAX_TOKEN_FILE_BYTES, "token file")
        line = text.split(b"\n", 1)[0].decode("ascii", "replace").strip()
        if not line:
            raise errors.InvalidArgument("%s: token file is empty" % path)
        return _check_token(line)
    return _check_token(os.environ.get("HPSWEEP_TOKEN", "").strip())


def _enum_name(field, number):
    value = field.enum_type.values_by_number.get(number)
    return value.name.lower() if value is not None else number


def _value(field, value):
    if field.message_type is not None:
        return message_to_dict(value)
    if field.enum_type is not None:
        return _enum_name(field, value)
    if field.type == field.TYPE_BYTES:
        return bytes(value)
    return value


def message_to_dict(msg):
    """Every field of a protobuf message as a dict of Python values: ints and floats as numbers
    (json_format would make int64 a string), enums as lower-case names ("completed"), maps as
    dicts, repeated fields as lists; fields added to hpsweep.proto later come along by themselves."""
    out = {}
    for field in msg.DESCRIPTOR.fields:
        value = getattr(msg, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value(value_field, v) for k, v in value.items()}
        elif field.label == field.LABEL_REPEATED:
            out[field.name] = [_value(field, v) for v in value]
        elif field.message_type is not None and not msg.HasField(field.name):
            out[field.name] = None
        else:
            out[field.name] = _value(field, value)
    return out


# The trial states that are final: a sweep is done when every trial is in one of them.
FINISHED_STATES = ("completed", "failed", "stopped", "pruned")


def _measured(value):
    """A metric value, or None when not measured (the proto's -1; NaN)."""
    return value if value == value and 0 <= value < float("inf") else None


# The engine's metrics (task: regression's four too); any other name is a program's
# (docs/programs.md), whose values may be any finite number: only NaN means "not measured" for
# those.
ENGINE_METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss",
                  "val_mse", "val_mae", "test_mse", "test_mae")


def _metric_value(value, metric):
    """The sweep's metric's value, or None when not measured."""
    if metric and metric not in ENGINE_METRICS:
        return value if value == value and abs(value) < float("inf") else None
    return _measured(value)


def _leaderboard_row(row, metric, objectives=(), fronts=False):
    d = message_to_dict(row)
    # Several objectives or constraints (README "Several objectives"), as `hpsweep leaderboard
    # --format json`: front (None: lacks an objective's value), feasible, and each objective's
    # value under its own name (None: not measured).
    values = list(row.objective_values)
    for key in ("front", "infeasible", "objective_values"):
        d.pop(key, None)
    if fronts:
        d["front"] = row.front or None
        d["feasible"] = not row.infeasible
        for name, value in zip(objectives, values):
            d[name] = None if value != value else value
    d["params"] = typed_params(dict(row.params))
    # As `hpsweep leaderboard --format json`: a value not measured (a pruned or running trial has
    # no test pass) is None, not -1; a pruned trial says at which epoch it was stopped.
    for key in ("val_accuracy", "test_accuracy"):
        d[key] = _measured(d[key])
    d["metric_value"] = _metric_value(row.metric_value, metric)
    d["pruned_at_epoch"] = row.epochs if d["status"] == "pruned" else None
    # The epoch test_accuracy and the model come from (keep: best or last); None when not known.
    d["weights_epoch"] = row.weights_epoch or None
    # A regression trial's test pass (test_mse, test_mae) under their own names, as
    # `hpsweep leaderboard --format json` has them; None when not measured.
    for name, value in row.test_metrics.items():
        d[name] = _measured(value)
    # The value ranked by, under the metric's own name.
    if metric:
        d[metric] = _metric_value(row.metric_value, metric)
    return d


def sweep_status(msg):
    """A SweepStatus message as the dict that status() and watch() give: every field, plus
    metric (the sweep file's metric.name), goal ("maximize" or "minimize"), best (the best
    trial's value of that metric, None before any result) and done (trials in a finished state:
    completed, failed, stopped or pruned); queued counts the trials not proposed yet too. The proto's best_val_accuracy is left out: despite its
    name it holds the sweep's metric (a val_loss for a val_loss sweep); best_metric, the same
    value with -1 for none, stays."""
    d = message_to_dict(msg)
    d.pop("best_val_accuracy", None)
    d["metric"] = msg.metric_name or "val_accuracy"  # "" from a coordinator before the field
    d["goal"] = "maximize" if msg.maximize or not msg.metric_name else "minimize"
    d["best"] = _metric_value(msg.best_metric, d["metric"])
    d["done"] = sum(d.get(k, 0) for k in FINISHED_STATES)
    # Waiting to be trained, as `hpsweep status` counts it: queued trials plus those the sweep's
    # sampler has not proposed yet (every method proposes at lease time); unproposed stays apart.
    d["queued"] = msg.queued + msg.unproposed
    return d


class Client:
    """A connection to an hpsweep coordinator.

    address: "HOST:PORT" (default 127.0.0.1:50051, the coordinator's default) or "unix:PATH".
    token / token_file: a token of the role the calls need (reader: status, leaderboard, export,
      watch, model; user: also submit and cancel); without either, $HPSWEEP_TOKEN if set.
    tls_ca: PEM file of the CA that signed the coordinator's certificate; turns TLS on.
    tls_server_name: the name to check the certificate against, if not the host in address.
    tls_cert, tls_key: this client's certificate and key, for a coordinator with mutual TLS.
    timeout: seconds each call may take (export: at least 120).

    Errors are hpsweep.Error subclasses (hpsweep.errors) carrying the coordinator's message.
    """

    def __init__(self, address=DEFAULT_ADDRESS, token=None, token_file=None, tls_ca=None,
                 tls_server_name=None, tls_cert=None, tls_key=None, timeout=30.0):
        _check_address(address)
        self.address = address
        self.timeout = float(timeout)
        if not self.timeout > 0:
            raise errors.InvalidArgument("timeout: expected seconds > 0, got %r" % timeout)
        secret = _client_token(token, token_file)
        options = [("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)]
        if tls_ca is None:
            if secret:
                raise errors.InvalidArgument(
                    "a token is given (token, token_file or HPSWEEP_TOKEN) but no tls_ca: the "
                    "token would travel in the clear; pass tls_ca with the coordinator's CA "
                    "certificate")
            if tls_cert is not None or tls_key is not None:
                raise errors.InvalidArgument("tls_cert and tls_key need tls_ca")
            if tls_server_name is not None:
                raise errors.InvalidArgument("tls_server_name needs tls_ca")
            self._channel = grpc.insecure_channel(address, options=options)
            self.tls = False
        else:
            if (tls_cert is None) != (tls_key is None):
                raise errors.InvalidArgument("tls_cert and tls_key go together: give both or "
                                             "neither")
            ca = _read_bounded(os.fspath(tls_ca), MAX_PEM_BYTES, "CA certificate (tls_ca)")
            cert = key = None
            if tls_cert is not None:
                cert = _read_bounded(os.fspath(tls_cert), MAX_PEM_BYTES, "certificate (tls_cert)")
                key = _read_bounded(os.fspath(tls_key), MAX_PEM_BYTES, "key (tls_key)")
            creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                                 certificate_chain=cert)
            if secret:
                creds = grpc.composite_channel_credentials(
                    creds, grpc.access_token_call_credentials(secret))
            if tls_server_name is not None:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            self._channel = grpc.secure_channel(address, creds, options=options)
            self.tls = True
        self.has_token = bool(secret)
        del secret
        self._stub = pb_grpc.CoordinatorStub(self._channel)

    def __repr__(self):
        return "hpsweep.Client(%r, tls=%s, token=%s)" % (
            self.address, self.tls, "'<hidden>'" if self.has_token else "None")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the channel; calls after this fail."""
        self._channel.close()

    # --- calls ---------------------------------------------------------------------------------

    def _error(self, e):
        code = e.code() if callable(getattr(e, "code", None)) else None
        name = code.name if code is not None else "UNKNOWN"
        details = (e.details() if callable(getattr(e, "details", None)) else None) or str(code)
        message = details
        if name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            message += (" (pass token= or token_file= with a token of the right role, and "
                        "tls_ca=; README, Security)")
        elif name == "UNAVAILABLE":
            message = ("%s: %s (is a coordinator running there? start one with `hpsweep "
                       "coordinator --listen %s`)" % (self.address, details, self.address))
        elif name == "DEADLINE_EXCEEDED":
            message = "%s: %s" % (self.address, details)
        return errors.error_class(name)(message, details=details, code=name)

    def _call(self, method, request, timeout=None):
        try:
            return method(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            error = self._error(e)
        # Raised here, outside the except block, so the error holds no gRPC call object in its
        # __context__: an error a program keeps (or a test's assertRaises) must not keep a call
        # alive until the interpreter's teardown, where gRPC may crash collecting it.
        raise error

    def submit(self, sweep, file_name=None):
        """Submits a sweep file; returns the new sweep's id.

        sweep: a path (str without a newline, or os.PathLike) or the YAML text itself (str with
        newlines, or bytes). file_name: the name the coordinator's messages use for the file
        (default: the path; "<sweep>" for text). A bad file raises InvalidArgument whose message
        names file, line and key: "sweeps/x.yaml:12: key 'units': ..."; nothing is stored then.
        """
        if isinstance(sweep, (bytes, bytearray)):
            yaml = bytes(sweep)
        elif isinstance(sweep, os.PathLike) or (isinstance(sweep, str) and "\n" not in sweep):
            path = os.fspath(sweep)
            try:
                with open(path, "rb") as f:
                    # Bounded: the coordinator refuses past the limit, naming it, and /dev/zero
                    # never ends.
                    yaml = f.read(MAX_SWEEP_FILE_BYTES + 1)
            except OSError:
                raise errors.NotFound("%s: cannot open sweep file" % path) from None
            if file_name is None:
                file_name = path
        elif isinstance(sweep, str):
            yaml = sweep.encode("utf-8", "surrogateescape")
        else:
            raise errors.InvalidArgument("submit: expected a path or the YAML text, got %s"
                                         % type(sweep).__name__)
        if len(yaml) > MAX_SWEEP_FILE_BYTES:
            # Said here, naming the file as the coordinator would, rather than as a request size.
            raise errors.InvalidArgument("%s: the file is %d bytes, over the limit of %d"
                                         % (file_name or "<sweep>", len(yaml),
                                            MAX_SWEEP_FILE_BYTES))
        name = (file_name or "").encode("utf-8", "surrogateescape")
        resp = self._call(self._stub.SubmitSweep, pb.SubmitSweepRequest(file_name=name, yaml=yaml))
        return resp.sweep_id

    def status(self, sweep=None):
        """A dict per sweep (all sweeps, or the one given): sweep_id, name, state (running,
        completed, cancelled), trial counts (queued, running, completed, failed, stopped, pruned,
        total), done (completed + failed + stopped + pruned), metric (the sweep's metric.name,
        e.g. "val_loss"), goal ("maximize" or "minimize"), best (the best trial's value of that
        metric; None when no trial has one yet), created_at; also metric_name, maximize and
        best_metric (-1 for none) as the proto has them. See sweep_status()."""
        resp = self._call(self._stub.GetStatus, pb.GetStatusRequest(sweep_id=_sweep_id(sweep)))
        return [sweep_status(s) for s in resp.sweeps]

    def workers_alive(self):
        """Workers heard from within one lease period."""
        return self._call(self._stub.GetStatus, pb.GetStatusRequest()).workers_alive

    def leaderboard(self, sweep=None, top=None, as_dataframe=False):
        """The sweep's trials ranked by its metric and goal, best first (sweep None: the latest).

        A list of dicts: rank, trial_id, number, status, params (typed: {"units": 128, "dense":
        [64], "cell": "lstm", ...}), best_epoch, val_accuracy, test_accuracy (None: not measured,
        as for a pruned or running trial), weights_epoch (the epoch test_accuracy and the model
        come from: keep best or last; None when not known), epochs, pruned_at_epoch (None unless
        pruned), seconds,
        worker, metric_value, and the value again under the metric's own name (e.g.
        "val_loss"); a regression sweep's trials also test_mse and test_mae (None: not
        measured), as `hpsweep leaderboard --format json`. A sweep of several objectives or with
        constraints ranks by front: its rows also have front (1: not dominated; None: lacks an
        objective's value), feasible, and each objective's value under its name (e.g.
        "param_count"). as_dataframe=True: a pandas
        DataFrame of the same rows, params as "params.units" columns (needs pandas)."""
        if top is not None and (not isinstance(top, int) or isinstance(top, bool) or
                                not 0 <= top <= 2**31 - 1):
            raise errors.InvalidArgument("top: expected a count >= 0, got %r" % (top,))
        if as_dataframe:
            try:
                import pandas
            except ImportError:
                raise ImportError("leaderboard(as_dataframe=True) needs pandas (Debian: apt-get "
                                  "install python3-pandas)") from None
        req = pb.GetLeaderboardRequest(sweep_id=_sweep_id(sweep), top=top or 0)
        resp = self._call(self._stub.GetLeaderboard, req)
        fronts = bool(resp.objectives) or bool(resp.constraints)
        rows = [_leaderboard_row(r, resp.metric_name, list(resp.objectives), fronts)
                for r in resp.rows]
        if as_dataframe:
            return pandas.json_normalize(rows) if rows else pandas.DataFrame()
        return rows

    def export(self, sweep=None):
        """Every trial of the sweep (None: the latest) with params (typed), per-epoch metrics and
        final metrics: {"sweep": {...}, "trials": [{"id", "number", "status", "params", "epochs":
        [{"epoch", "train_loss", ..., "lr"}], "best_epoch", "test_accuracy", "weights_epoch",
        "stopped_epoch", ...}]}, as `hpsweep export --format json`: each epoch's lr (None when not
        known), the epoch the test metrics and model come from, and the epoch after which early
        stopping ended the trial (0: it did not). A NaN (a diverged loss) and a value not measured (the test
        metrics of a pruned or running trial) are None. Fetched in pages of at most 8 MiB of
        JSON each (ExportSweepRequest.after_trial and max_bytes), their trials joined."""
        sweep_id, after, data = _sweep_id(sweep), 0, None
        while True:
            req = pb.ExportSweepRequest(sweep_id=sweep_id, after_trial=after, max_bytes=8 << 20)
            resp = self._call(self._stub.ExportSweep, req, timeout=max(self.timeout, 120.0))
            try:
                page = json.loads(resp.json)
                for trial in page["trials"]:
                    trial["params"] = typed_params(trial.get("params") or {})
                if data is None:
                    data = page
                    sweep_id = page["sweep"]["id"]  # None (the latest) stays the sweep it found
                else:
                    data["trials"].extend(page["trials"])
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise errors.Error("the sweep's export has an unexpected shape: %s" % e,
                                   code="DATA_LOSS") from None
            if resp.next_after == 0:
                return data
            if resp.next_after <= after:
                raise errors.Error("the coordinator's export pages do not advance",
                                   code="DATA_LOSS")
            after = resp.next_after

    def watch(self, sweep=None):
        """An iterator of progress snapshots, one whenever a trial of the sweep changes (and one a
        second regardless), until the sweep is done (sweep None: every sweep, until none runs):
        {"sweeps": [status dicts as status() gives], "workers_alive": n}. Leaving the loop early
        ends the stream."""
        call = None
        try:
            call = self._stub.WatchSweep(pb.WatchSweepRequest(sweep_id=_sweep_id(sweep)))
            for snapshot in call:
                d = message_to_dict(snapshot)
                d["sweeps"] = [sweep_status(s) for s in snapshot.sweeps]
                yield d
        except grpc.RpcError as e:
            error = self._error(e)
        else:
            error = None
        finally:
            if call is not None:
                call.cancel()
        if error is not None:
            raise error  # outside the except block: no call object in __context__ (see _call)

    def cancel(self, sweep):
        """Stops leasing the sweep's trials and tells running workers STOP; returns how many
        trials will not run or are being stopped."""
        if sweep is None:
            raise errors.InvalidArgument("cancel: name the sweep")
        req = pb.CancelSweepRequest(sweep_id=_sweep_id(sweep))
        return self._call(self._stub.CancelSweep, req).stopped

    def extend(self, sweep, max_trials=None, more=None):
        """Lets a bayes or random sweep go on from its history (`hpsweep extend`): max_trials is
        its new total, larger than its current one (or more: that many trials more). `sweep` is an
        id, or a name (the latest sweep of that name). A completed sweep runs again. Returns a
        dict: sweep_id, name, max_trials, total (its trials once all are proposed) and
        previous_total. FailedPrecondition for a grid, list or cancelled sweep; InvalidArgument for
        a limit that is not larger; NotFound for an unknown sweep. Nothing changes on a refusal."""
        if (max_trials is None) == (more is None):
            raise errors.InvalidArgument("extend: give max_trials (the new total) or more")
        for what, value in (("max_trials", max_trials), ("more", more)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or not 1 <= value <= 10000):
                raise errors.InvalidArgument("extend: %s: expected an int 1 to 10000, got %r"
                                             % (what, value))
        if isinstance(sweep, str):
            ids = [s["sweep_id"] for s in self.status() if s["name"] == sweep]
            if not ids:
                raise errors.NotFound("extend: no sweep named %r" % sweep)
            sweep = max(ids)
        elif sweep is None:
            raise errors.InvalidArgument("extend: name the sweep")
        req = pb.ExtendSweepRequest(sweep_id=_id("sweep", sweep), max_trials=max_trials or 0,
                                    more=more or 0)
        resp = self._call(self._stub.ExtendSweep, req)
        return {"sweep_id": resp.sweep_id, "name": resp.name, "max_trials": resp.max_trials,
                "total": resp.total, "previous_total": resp.previous_total}

    def model(self, trial):
        """The saved model of a trial: the bytes of a model file (`hpsweep summary --model FILE`,
        `hpsweep predict --model FILE` read it once written to a file). `trial` is the trial's
        id (`trial_id` in leaderboard rows, `id` in the export), unique in the database, not its
        number within its sweep."""
        req = pb.GetModelRequest(trial_id=_id("trial", trial))
        return self._call(self._stub.GetModel, req, timeout=max(self.timeout, 120.0)).model

    def output(self, trial):
        """A program trial's kept output (docs/programs.md): the last 1 MiB of its last attempt's
        stdout and stderr, as text (`hpsweep logs SWEEP#N`). `trial` is the trial's id, as for
        model(); NotFound for a trial that kept none (an engine trial)."""
        req = pb.GetModelRequest(trial_id=_id("trial", trial), artifact="output")
        data = self._call(self._stub.GetModel, req, timeout=max(self.timeout, 120.0)).model
        return data.decode("utf-8", errors="replace")


def _id(what, value):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise errors.InvalidArgument("%s: expected an id (an int >= 1), got %r" % (what, value))
    return value


def _sweep_id(sweep):
    return 0 if sweep is None else _id("sweep", sweep)
