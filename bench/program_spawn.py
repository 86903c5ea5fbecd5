"""Runs an hpsweep program (docs/programs.md) as a worker would, for the Optuna peers of the benches.

What a worker gives a program, and what these benches give it too: argv `PATH --name=value` in name
order; a trial JSON file in HPSWEEP_TRIAL (params, epochs, seed, checkpoint_dir, resume_epoch 0);
the report pipe's write end as descriptor 3 (HPSWEEP_REPORT_FD=3) and one end of a socket pair as
descriptor 4 (HPSWEEP_CONTROL_FD=4), standard input /dev/null, standard output and error together
in one pipe that is kept; HPSWEEP_CHECKPOINT_DIR and HPSWEEP_DATA_DIR; a fresh private folder per
trial. The program runs in a process group of its own, so a stop can signal all of it.

The child is started with os.posix_spawn, whose file actions put the pipe at descriptor 3 without
running Python code between fork and exec (subprocess.Popen cannot place a descriptor at a given
number without preexec_fn, which is unsafe with Optuna's n_jobs threads; pass_fds keeps the
number it has, and dash cannot redirect to a descriptor above 9).

    run_program(path, params, epochs, on_epoch=None, data_dir=None, seed=0) -> Result

on_epoch(epoch_dict) is called for each epoch line as it arrives; if it returns True the trial is
told to stop: `{"action": "stop"}` on the control socket (the worker's first step), then SIGTERM to
the group after `grace` seconds and SIGKILL 5 s later (hpsweep's worker defaults to a 10 s grace;
the benches pass the same grace to both).
"""
import json
import os
import selectors
import shutil
import signal
import socket
import tempfile
import time

DEVNULL_HOLDERS = []


def reserve_low_fds():
    """Keeps descriptors 0-9 taken (by /dev/null) so that no pipe made later is 3 or 4: posix_spawn's
    dup2 onto the same number would leave its close-on-exec flag set on some C libraries."""
    while True:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd >= 10:
            os.close(fd)
            return
        DEVNULL_HOLDERS.append(fd)


class Result:
    def __init__(self):
        self.epochs = []        # the epoch lines, as dicts
        self.final = None       # the final line, if any
        self.returncode = None
        self.stopped = False    # told to stop
        self.output = b""
        self.started = 0.0
        self.ended = 0.0


def _argv(path, params):
    return [path] + ["--%s=%s" % (k, _text(params[k])) for k in sorted(params)]


def _text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def run_program(path, params, epochs, on_epoch=None, data_dir=None, seed=0, grace=10.0,
                metric=None, goal="maximize"):
    r = Result()
    folder = tempfile.mkdtemp(prefix="bench-trial-")
    try:
        checkpoint = os.path.join(folder, "checkpoint")
        os.mkdir(checkpoint)
        trial_path = os.path.join(folder, "trial.json")
        with open(os.open(trial_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump({"sweep": "bench", "sweep_id": 1, "trial": 1, "attempt": 1,
                       "params": params, "epochs": epochs, "seed": seed,
                       "checkpoint_dir": checkpoint, "resume_epoch": 0,
                       "metric": metric or "", "goal": goal}, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPSWEEP_")}
        env.update({"HPSWEEP_TRIAL": trial_path, "HPSWEEP_REPORT_FD": "3",
                    "HPSWEEP_CONTROL_FD": "4", "HPSWEEP_CHECKPOINT_DIR": checkpoint,
                    "HPSWEEP_DATA_DIR": data_dir or ""})
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        ctl_mine, ctl_theirs = socket.socketpair()
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, out_w, 2),
                   (os.POSIX_SPAWN_DUP2, rep_w, 3), (os.POSIX_SPAWN_DUP2, ctl_theirs.fileno(), 4)]
        r.started = time.time()
        try:
            pid = os.posix_spawn(path, _argv(path, params), env, file_actions=actions,
                                 setpgroup=0)
        finally:
            os.close(rep_w)
            os.close(out_w)
            ctl_theirs.close()
        sel = selectors.DefaultSelector()
        sel.register(rep_r, selectors.EVENT_READ, "report")
        sel.register(out_r, selectors.EVENT_READ, "output")
        buf = b""
        out = []
        open_fds = 2
        term_at = kill_at = None
        while open_fds:
            timeout = None
            now = time.monotonic()
            for t in (term_at, kill_at):
                if t is not None:
                    timeout = max(0.0, t - now) if timeout is None else min(timeout, t - now)
            for key, _ in sel.select(timeout):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fd)
                    open_fds -= 1
                    continue
                if key.data == "output":
                    out.append(data)
                    continue
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    obj = json.loads(line)
                    if "epoch" not in obj:
                        r.final = obj
                        continue
                    r.epochs.append(obj)
                    if on_epoch is not None and not r.stopped and on_epoch(obj):
                        r.stopped = True
                        try:
                            ctl_mine.send(b'{"action": "stop"}\n', socket.MSG_DONTWAIT)
                        except OSError:
                            pass
                        term_at = time.monotonic() + grace
            now = time.monotonic()
            if term_at is not None and now >= term_at:
                term_at = None
                _signal(pid, signal.SIGTERM)
                kill_at = now + 5
            if kill_at is not None and now >= kill_at:
                kill_at = None
                _signal(pid, signal.SIGKILL)
        sel.close()
        os.close(rep_r)
        os.close(out_r)
        ctl_mine.close()
        # As the worker: once the program has ended, whatever is left of its group goes too
        # (waited for without reaping first, so that the group's id cannot be anyone else's).
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        _signal(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        r.returncode = os.waitstatus_to_exitcode(status)
        r.output = b"".join(out)
        r.ended = time.time()
        return r
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _signal(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
