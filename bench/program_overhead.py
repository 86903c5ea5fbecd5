#!/usr/bin/python3
"""What a program trial costs beyond the program: hpsweep's workers against Optuna driving the same script.

A trivial program (docs/programs.md) reads `--x=VALUE`, writes one epoch line
`{"epoch": 1, "score": X}` to $HPSWEEP_REPORT_FD and exits. Two of them: /bin/sh (dash) and a
stdlib Python script (/usr/bin/python3: json, os, sys). For each:

- standalone: the program run --standalone-runs times (default 50) one after the other from this
  script, as a worker runs it (bench/program_spawn.py: trial file, the report pipe at descriptor
  3, control socket at 4, output kept, own process group, same environment); median seconds.
- hpsweep: `hpsweep run SWEEP --workers 2 --program p=PATH --db DB`, SWEEP a `method: random`
  sweep over `x: uniform 0..1` with max_trials --trials (default 1000), 1 epoch. Figures from the
  process's wall time and the export (`hpsweep export 1 --format json`): the span from the first
  trial's lease (started_at) to the last trial's finished_at; trials per second over that span;
  per worker, the cycle (its span over its trial count) and the median lease-to-finish time of its
  trials; the worker's added latency per trial = the median cycle minus the standalone median.
- optuna: optuna.create_study(direction="maximize") with its default sampler (TPE) and in-memory
  storage, study.optimize(n_trials=--trials, n_jobs=2): each trial suggests x and runs the same
  program through bench/program_spawn.py (the worker's equivalent: trial file, report pipe at
  descriptor 3, control socket, output kept), its score the objective. The cycle per thread is
  wall x 2 / trials; the added latency the cycle minus the standalone median. --optuna-storage
  sqlite adds an arm with RDBStorage on a fresh SQLite file; --optuna-random one with
  RandomSampler (hpsweep's arm samples at random).

Prints a line per arm and a JSON summary (medians; ratios Optuna / hpsweep of the cycle and of the
added latency, from this run). docs/benchmarks.md, "Program trials", quotes it.

    /usr/bin/python3 bench/program_overhead.py [--hpsweep build/cli/hpsweep] [--trials 1000]
        [--programs sh,py] [--standalone-runs 50] [--optuna-storage memory,sqlite]
        [--optuna-random] [--arms hpsweep,optuna]

Needs Debian's python3-optuna for the optuna arms. With --trials 1000 a run takes a few minutes
on 2 cores.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import program_spawn  # noqa: E402

SH_PROGRAM = r"""#!/bin/sh
# One epoch line with the score X of --x=X, then exit.
for a in "$@"; do case "$a" in --x=*) x="${a#--x=}";; esac; done
printf '{"epoch": 1, "score": %s}\n' "$x" >&"$HPSWEEP_REPORT_FD"
"""

PY_PROGRAM = r"""#!/usr/bin/python3
# One epoch line with the score X of --x=X, then exit (standard library only).
import json, os, sys
x = float(next(a[4:] for a in sys.argv[1:] if a.startswith("--x=")))
os.write(int(os.environ["HPSWEEP_REPORT_FD"]), (json.dumps({"epoch": 1, "score": x}) + "\n").encode())
"""


def write_program(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def standalone(path, runs):
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        r = program_spawn.run_program(path, {"epochs": 1, "x": 0.5}, 1)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0 or len(r.epochs) != 1:
            raise SystemExit(f"{path}: exit {r.returncode}, lines {r.epochs}: {r.output!r}")
    return statistics.median(times)


def run_hpsweep(a, tmp, name, path, own):
    sweep = os.path.join(tmp, name + ".yaml")
    db = os.path.join(tmp, name + ".db")
    with open(sweep, "w") as f:
        f.write(f"name: {name}\nprogram: p\nmethod: random\n"
                "metric: {name: score, goal: maximize}\n"
                f"max_trials: {a.trials}\nfixed: {{epochs: 1}}\n"
                "parameters:\n  x: {distribution: uniform, min: 0, max: 1}\n")
    t0 = time.time()
    subprocess.run([a.hpsweep, "run", sweep, "--workers", "2", "--program", "p=" + path,
                    "--db", db], check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    export = json.loads(subprocess.run(
        [a.hpsweep, "export", "1", "--db", db, "--format", "json"], check=True,
        capture_output=True, text=True).stdout)
    trials = export["trials"]
    statuses = {}
    for t in trials:
        statuses[t["status"]] = statuses.get(t["status"], 0) + 1
    done = [t for t in trials if t["status"] == "completed"]
    first = min(float(t["started_at"]) for t in done)
    last = max(float(t["finished_at"]) for t in done)
    span = last - first
    by_worker = {}
    for t in done:
        by_worker.setdefault(t["worker"], []).append(t)
    cycles, gaps = [], []
    for ts in by_worker.values():
        ts.sort(key=lambda t: float(t["started_at"]))
        w_span = float(ts[-1]["finished_at"]) - float(ts[0]["started_at"])
        cycles.append(w_span / len(ts))
        gaps += [float(n["started_at"]) - float(p["finished_at"]) for p, n in zip(ts, ts[1:])]
    lease_to_finish = statistics.median(float(t["finished_at"]) - float(t["started_at"])
                                        for t in done)
    lease_to_epoch = statistics.median(float(t["epochs"][0]["recorded_at"]) -
                                       float(t["started_at"]) for t in done if t["epochs"])
    cycle = statistics.median(cycles)
    return {"wall": round(wall, 2), "span": round(span, 2), "trials": len(trials),
            "statuses": statuses, "trials_per_s": round(len(done) / span, 1),
            "trials_per_s_wall": round(len(done) / wall, 1),
            "cycle_ms": round(1000 * cycle, 2),
            "lease_to_finish_ms": round(1000 * lease_to_finish, 2),
            "lease_to_epoch_recorded_ms": round(1000 * lease_to_epoch, 2),
            "finish_to_next_lease_ms": round(1000 * statistics.median(gaps), 2) if gaps else None,
            "added_ms": round(1000 * (cycle - own), 2)}


def run_optuna(a, tmp, name, path, own, storage, random_sampler):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"direction": "maximize"}
    if storage == "sqlite":
        kwargs["storage"] = "sqlite:///" + os.path.join(tmp, name + ".sqlite")
        kwargs["study_name"] = name
    if random_sampler:
        kwargs["sampler"] = optuna.samplers.RandomSampler()
    study = optuna.create_study(**kwargs)
    failures = []

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        r = program_spawn.run_program(path, {"epochs": 1, "x": x}, 1)
        if r.returncode != 0 or len(r.epochs) != 1:
            failures.append(r.output)
            raise RuntimeError(f"program failed: exit {r.returncode}")
        return float(r.epochs[0]["score"])

    t0 = time.time()
    study.optimize(objective, n_trials=a.trials, n_jobs=2, catch=(RuntimeError,))
    wall = time.time() - t0
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    cycle = wall * 2 / len(done)
    return {"wall": round(wall, 2), "trials": len(trials), "completed": len(done),
            "failed": len(failures), "trials_per_s": round(len(done) / wall, 1),
            "cycle_ms": round(1000 * cycle, 2),
            "trial_ms": round(1000 * statistics.median(durations), 2),
            "added_ms": round(1000 * (cycle - own), 2)}


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hpsweep", default="build/cli/hpsweep")
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--programs", default="sh,py")
    p.add_argument("--standalone-runs", type=int, default=50)
    p.add_argument("--optuna-storage", default="memory", help="memory, sqlite or memory,sqlite")
    p.add_argument("--optuna-random", action="store_true",
                   help="also an Optuna arm with RandomSampler (in memory)")
    p.add_argument("--arms", default="hpsweep,optuna")
    a = p.parse_args()
    a.hpsweep = os.path.abspath(a.hpsweep)
    arms = a.arms.split(",")
    program_spawn.reserve_low_fds()
    summary = {"trials": a.trials, "workers": 2, "cpu": cpu_model(),
               "loadavg_before": open("/proc/loadavg").read().split()[0]}
    with tempfile.TemporaryDirectory(prefix="hpsweep-program-overhead-") as tmp:
        for prog in a.programs.split(","):
            path = write_program(tmp, "trivial." + prog, SH_PROGRAM if prog == "sh" else PY_PROGRAM)
            own = standalone(path, a.standalone_runs)
            s = summary[prog] = {"standalone_ms": round(1000 * own, 2)}
            print(f"[{prog}] standalone: median {1000 * own:.2f} ms of {a.standalone_runs} runs",
                  flush=True)
            if "hpsweep" in arms:
                r = s["hpsweep"] = run_hpsweep(a, tmp, "hpsweep-" + prog, path, own)
                print(f"[{prog}] hpsweep: wall {r['wall']:.1f} s, span {r['span']:.1f} s, "
                      f"{r['trials_per_s']} trials/s ({r['trials_per_s_wall']} over the wall), "
                      f"cycle per worker {r['cycle_ms']:.1f} ms, added {r['added_ms']:.1f} ms "
                      f"(lease to epoch stored {r['lease_to_epoch_recorded_ms']:.1f} ms, to finish "
                      f"{r['lease_to_finish_ms']:.1f} ms, finish to next lease "
                      f"{r['finish_to_next_lease_ms']} ms) {r['statuses']}", flush=True)
            if "optuna" in arms:
                variants = [(st, False) for st in a.optuna_storage.split(",")]
                if a.optuna_random:
                    variants.append(("memory", True))
                for storage, rnd in variants:
                    key = "optuna_" + storage + ("_random" if rnd else "")
                    r = s[key] = run_optuna(a, tmp, key + "-" + prog, path, own, storage, rnd)
                    print(f"[{prog}] {key}: wall {r['wall']:.1f} s, {r['trials_per_s']} trials/s, "
                          f"cycle per thread {r['cycle_ms']:.1f} ms, added {r['added_ms']:.1f} ms "
                          f"(trial {r['trial_ms']:.1f} ms, {r['completed']} completed, "
                          f"{r['failed']} failed)", flush=True)
            if "hpsweep" in s:
                for key in [k for k in s if k.startswith("optuna")]:
                    s["ratio_cycle_" + key + "_over_hpsweep"] = round(
                        s[key]["cycle_ms"] / s["hpsweep"]["cycle_ms"], 2)
    summary["loadavg_after"] = open("/proc/loadavg").read().split()[0]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
