"""Tests of hpsweep.trial (python/hpsweep/trial.py), the helper a trial program uses.

Each test runs a child python as a worker runs a program (docs/programs.md): a trial JSON file
named by HPSWEEP_TRIAL, a real pipe for the report descriptor and a pipe or a socketpair for the
control descriptor, passed to the child with pass_fds and named by HPSWEEP_REPORT_FD and
HPSWEEP_CONTROL_FD. The child's code is a short script; what it writes on the report descriptor
is read back and checked line by line. Standard library only:

    PYTHONPATH=python /usr/bin/python3 tests/python/trial_test.py -v
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import unittest

PYTHON_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "..", "..", "python"))
TRIAL = {"sweep": "torch-lstm", "sweep_id": 3, "trial": 7, "attempt": 1,
         "params": {"hidden": 64, "lr": 0.0031, "optimizer": "adam", "epochs": 3,
                    "nesterov": True},
         "epochs": 3, "seed": 5, "checkpoint_dir": "/nonexistent/from-json",
         "resume_epoch": 0, "metric": "val_f1", "goal": "maximize"}


def clean_env():
    """The environment a worker gives a program: no HPSWEEP_* of its own; hpsweep importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSWEEP_")}
    env["PYTHONPATH"] = PYTHON_DIR
    return env


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class Trial:
    """A child python running `code` as a worker would run a trial program."""

    def __init__(self, test, code, trial=TRIAL, control="pipe", argv=(), env=None):
        self.tmp = tempfile.TemporaryDirectory()
        test.addCleanup(self.tmp.cleanup)
        self.env = clean_env()
        path = os.path.join(self.tmp.name, "trial.json")
        with open(path, "w") as f:
            json.dump(trial, f)
        self.report_r, self.report_w = os.pipe()
        if control == "socketpair":
            a, b = socket.socketpair()
            self.control_w, self.control_r = a.detach(), b.detach()
        else:
            self.control_r, self.control_w = os.pipe()
        self.env.update({"HPSWEEP_TRIAL": path, "HPSWEEP_REPORT_FD": str(self.report_w),
                         "HPSWEEP_CONTROL_FD": str(self.control_r),
                         "HPSWEEP_CHECKPOINT_DIR": os.path.join(self.tmp.name, "checkpoint"),
                         "HPSWEEP_DATA_DIR": "/data/mnist"})
        self.env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)] + list(argv), env=self.env,
            pass_fds=(self.report_w, self.control_r), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(self.report_w)  # the child holds the only write end: EOF when it exits
        os.close(self.control_r)
        self.closed = False

    def read_line(self):
        """One line from the report descriptor (blocking)."""
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(self.report_r, 1)
            if not chunk:
                raise AssertionError("the report stream ended after %r" % data)
            data += chunk
        return json.loads(data)

    def control(self, data):
        os.write(self.control_w, data)

    def finish(self, timeout=30):
        """(report lines, stdout, stderr, exit status) once the child has exited."""
        if not self.closed:
            os.close(self.control_w)
            self.closed = True
        out, err = self.proc.communicate(timeout=timeout)
        lines = [json.loads(l) for l in read_all(self.report_r).splitlines()]
        os.close(self.report_r)
        return lines, out.decode(), err.decode(), self.proc.returncode


class TrialTest(unittest.TestCase):

    def run_trial(self, code, **kw):
        t = Trial(self, code, **kw)
        lines, out, err, rc = t.finish()
        self.assertEqual(rc, 0, err)
        return lines, out

    def test_reads_the_trial_and_reports_lines(self):
        lines, out = self.run_trial("""
            import json, hpsweep.trial as t
            print(json.dumps({"params": t.params(), "info": t.info(), "epochs": t.epochs(),
                              "seed": t.seed(), "resume": t.resume_epoch(),
                              "ckpt": t.checkpoint_dir(), "data": t.data_dir()}))
            for e in range(1, t.epochs() + 1):
                assert t.report(e, val_f1=0.5 + e / 10, val_loss=1.0 / e, **{"a.b-c": 2}) is False
            assert t.should_stop() is False
            t.final(test_f1=0.9, test_accuracy=1)
            """)
        got = json.loads(out)
        self.assertEqual(got["params"], TRIAL["params"])
        self.assertEqual(got["info"], TRIAL)
        self.assertEqual((got["epochs"], got["seed"], got["resume"], got["data"]),
                         (3, 5, 0, "/data/mnist"))
        self.assertTrue(got["ckpt"].endswith("/checkpoint"))  # the env var before the file's
        self.assertEqual(lines, [
            {"epoch": 1, "val_f1": 0.6, "val_loss": 1.0, "a.b-c": 2.0},
            {"epoch": 2, "val_f1": 0.7, "val_loss": 0.5, "a.b-c": 2.0},
            {"epoch": 3, "val_f1": 0.8, "val_loss": 1.0 / 3, "a.b-c": 2.0},
            {"test_f1": 0.9, "test_accuracy": 1.0}])

    def check_stop(self, control, messages):
        t = Trial(self, """
            import time, hpsweep.trial as t
            t.report(1, val_f1=0.1)   # may see the stop already: the parent sends it at once
            deadline = time.time() + 20
            while not t.should_stop():
                assert time.time() < deadline, "no stop seen"
                time.sleep(0.01)
            assert t.report(2, val_f1=0.2) is True   # remembered once seen
            assert t.should_stop() is True
            """, control=control)
        self.assertEqual(t.read_line(), {"epoch": 1, "val_f1": 0.1})
        for m in messages:
            t.control(m)
        lines, _, err, rc = t.finish()
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [{"epoch": 2, "val_f1": 0.2}])

    def test_stop_on_a_pipe(self):
        self.check_stop("pipe", [b'{"action": "stop"}\n'])

    def test_stop_on_a_socketpair_in_pieces(self):
        self.check_stop("socketpair", [b'{"action": "noop"}\n{"action": "st', b'op"}\n'])

    def test_bare_stop_word(self):
        self.check_stop("pipe", [b"stop\n"])

    def test_end_of_control_stream_is_not_a_stop(self):
        t = Trial(self, """
            import sys, time, hpsweep.trial as t
            sys.stdin.read()   # /dev/null: returns at once
            time.sleep(0.3)    # the parent closes the control stream meanwhile
            assert t.should_stop() is False
            assert t.report(1, x=1) is False
            """)
        os.close(t.control_w)
        t.closed = True
        lines, _, err, rc = t.finish()
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [{"epoch": 1, "x": 1.0}])

    def test_resume_starts_after_resume_epoch(self):
        trial = dict(TRIAL, resume_epoch=2, epochs=4)
        lines, _ = self.run_trial("""
            import hpsweep.trial as t
            assert t.resume_epoch() == 2
            for bad in (1, 2, 4):
                try:
                    t.report(bad, x=1)
                    raise SystemExit("epoch %d accepted" % bad)
                except ValueError as e:
                    assert "out of order" in str(e), e
            t.report(3, x=3)
            t.report(4, x=4)
            try:
                t.report(5, x=5)
                raise SystemExit("epoch 5 accepted")
            except ValueError as e:
                assert "out of order" in str(e) or "past" in str(e), e
            """, trial=trial)
        self.assertEqual(lines, [{"epoch": 3, "x": 3.0}, {"epoch": 4, "x": 4.0}])

    def test_bad_lines_raise_value_error_and_write_nothing(self):
        lines, out = self.run_trial("""
            import decimal, hpsweep.trial as t

            class Scalar:                      # as a numpy or torch scalar: float() works
                def __float__(self):
                    return 0.25

            bad = [((1,), {"x": float("nan")}, "not finite"),
                   ((1,), {"x": float("inf")}, "not finite"),
                   ((1,), {"x": True}, "expected a number"),
                   ((1,), {"x": "0.5"}, "expected a number"),
                   ((1,), {"x": None}, "expected a number"),
                   ((1,), {"x": [1.0]}, "expected a number"),
                   ((1,), {"x": 10 ** 400}, "expected a number"),
                   ((1,), {"9x": 1}, "metric name"),
                   ((1,), {"x y": 1}, "metric name"),
                   ((1,), {"x" * 65: 1}, "metric name"),
                   ((1,), {"m%d" % i: i for i in range(65)}, "65 metrics"),
                   (("1",), {"x": 1}, "epoch"),
                   ((True,), {"x": 1}, "epoch"),
                   ((1.0,), {"x": 1}, "epoch")]
            for args, metrics, why in bad:
                try:
                    t.report(*args, **metrics)
                except ValueError as e:
                    assert why in str(e), (why, str(e))
                    print(e)
                else:
                    raise SystemExit("accepted: %r %r" % (args, metrics))
            t.report(1, x=Scalar(), y=decimal.Decimal("0.5"), z=3,
                     **{"m%d" % i: i for i in range(61)})
            try:
                t.final()
                raise SystemExit("an empty final line accepted")
            except ValueError:
                pass
            t.final(test_f1=0.5)
            for call in (lambda: t.final(test_f1=0.5), lambda: t.report(2, x=1)):
                try:
                    call()
                    raise SystemExit("a line after the final line accepted")
                except RuntimeError:
                    pass
            """)
        self.assertEqual(len(lines), 2)
        self.assertEqual(lines[0]["epoch"], 1)
        self.assertEqual((lines[0]["x"], lines[0]["y"], lines[0]["z"]), (0.25, 0.5, 3.0))
        self.assertEqual(len(lines[0]), 1 + 64)
        self.assertEqual(lines[1], {"test_f1": 0.5})
        self.assertIn("'x'", out)  # the messages name the metric

    def test_worker_gone_raises_broken_pipe(self):
        t = Trial(self, """
            import time, hpsweep.trial as t
            time.sleep(0.3)    # the parent closes the report stream's reader meanwhile
            try:
                t.report(1, x=1)
            except BrokenPipeError as e:
                assert "worker is gone" in str(e), e
                print("gone")
            """)
        os.close(t.report_r)
        out, err = t.proc.communicate(timeout=30)
        os.close(t.control_w)
        self.assertEqual((t.proc.returncode, out.strip()), (0, b"gone"), err)

    def test_by_hand_reads_argv_and_prints(self):
        env = {k: v for k, v in clean_env().items()}
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent("""
                import json, os, hpsweep.trial as t
                print(json.dumps({"params": t.params(), "info": t.info()}))
                assert os.path.isdir(t.checkpoint_dir())
                assert t.checkpoint_dir() == t.checkpoint_dir()
                assert t.data_dir() is None and t.resume_epoch() == 0
                assert t.report(1, val_f1=0.5) is False
                assert t.should_stop() is False
                t.final(test_f1=0.25)
                os.rmdir(t.checkpoint_dir())
                """), "--lr=0.01", "--epochs=2", "--seed=-3", "--optimizer=adam", "--flag=true",
             "--off=false", "--tiny=1e-3", "--big=inf", "--empty=", "positional", "--bare"],
            env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first, *lines = proc.stdout.splitlines()
        got = json.loads(first)
        self.assertEqual(got["params"], {"lr": 0.01, "epochs": 2, "seed": -3, "optimizer": "adam",
                                         "flag": True, "off": False, "tiny": 0.001,
                                         "big": "inf", "empty": ""})
        info = got["info"]
        self.assertEqual((info["epochs"], info["seed"], info["resume_epoch"], info["trial"]),
                         (2, -3, 0, None))
        self.assertEqual([json.loads(l) for l in lines],
                         [{"epoch": 1, "val_f1": 0.5}, {"test_f1": 0.25}])

    def test_imports_without_grpc(self):
        code = textwrap.dedent("""
            import sys

            class Blocker:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] == "grpc" or name.startswith("google.protobuf"):
                        raise ImportError("blocked: " + name)
                    return None

            sys.meta_path.insert(0, Blocker())
            try:
                import grpc
                raise SystemExit("grpc still importable")
            except ImportError:
                pass
            import hpsweep.trial
            import hpsweep
            assert hpsweep.typed_params({"units": "3"}) == {"units": 3}
            assert issubclass(hpsweep.InvalidArgument, hpsweep.Error)
            try:
                hpsweep.Client
                raise SystemExit("hpsweep.Client without grpc")
            except ImportError:
                pass
            assert "grpc" not in sys.modules
            print("ok")
            """)
        proc = subprocess.run([sys.executable, "-c", code], env=clean_env(),
                              capture_output=True, text=True, timeout=30)
        self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "ok"), proc.stderr)

    def test_package_names_resolve_lazily(self):
        proc = subprocess.run(
            [sys.executable, "-c", "import sys, hpsweep; assert 'hpsweep.client' not in "
             "sys.modules; print(sorted(set(hpsweep.__all__) - set(dir(hpsweep))))"],
            env=clean_env(), capture_output=True, text=True, timeout=30)
        self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "[]"), proc.stderr)


if __name__ == "__main__":
    unittest.main()
