#!/usr/bin/python3
"""Search with a user's own PyTorch script: hpsweep's program trials against Optuna driving the same script.

The program is examples/pytorch-lstm/train.py (an LSTM over MNIST rows, macro-F1 on the last 10%
of the training slice), run by both sides through the same two-line wrapper that execs
/usr/bin/python3 (a `#!/usr/bin/env python3` may find a python without torch). Same space
(hidden 32/64/128, lr log-uniform 1e-4..1e-1, optimizer adam/sgd), same fixed params (epochs,
train_limit), same budget (--trials trials of --epochs epochs), 2 at a time, one torch thread each:

1. hpsweep: `hpsweep run SWEEP --workers 2 --program torch-lstm=WRAPPER`, SWEEP `method: bayes`
   with `early_terminate: {type: hyperband, min_iter: 1, eta: 3}`, metric val_f1 (maximize),
   max_trials --trials.
2. optuna: TPESampler(multivariate, constant liar, seed 1, as bench/optuna_search.py) with
   SuccessiveHalvingPruner(min_resource 1, reduction_factor 3), n_jobs=2, n_trials --trials; each
   trial runs the wrapper as a worker does (bench/program_spawn.py: trial file, report pipe at
   descriptor 3, control socket at 4), reports each epoch line's val_f1 to the pruner, and when
   it says prune writes {"action": "stop"} on the control socket (then SIGTERM after the same
   10 s grace as the worker's --program-grace default). A pruned trial is TrialPruned.

Time to a value: to the end of the first epoch that reaches it, from the sweep's submission to
the coordinator's recorded_at for hpsweep, from the study's start to this script reading the
line for Optuna. Targets: Optuna's best val_f1, Optuna's best minus --margin (0.002: 0.2
points), and the better arm's best minus --margin. Prints a line per arm and a JSON summary.

    /usr/bin/python3 bench/program_search_bench.py [--hpsweep build/cli/hpsweep]
        [--data-dir data/mnist] [--trials 30] [--epochs 3] [--train-limit 3000] [--arms ...]

A separate file from bench/search_bench.py: that one compares search methods on the engine's
design grid (270 points, val_accuracy, hpsweep's own models); this one puts the same user script
under both drivers, with its own space, metric and program plumbing. About 10 minutes on 2 cores
with the defaults. Needs python3-torch and python3-optuna (Debian).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import program_spawn  # noqa: E402


def sweep_text(trials, epochs, train_limit):
    return ("name: torch-lstm-bench\nprogram: torch-lstm\nmethod: bayes\n"
            "metric: {name: val_f1, goal: maximize}\n"
            f"max_trials: {trials}\n"
            "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n"
            f"fixed: {{epochs: {epochs}, train_limit: {train_limit}}}\n"
            "parameters:\n  hidden: {values: [32, 64, 128]}\n"
            "  lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n"
            "  optimizer: {values: [adam, sgd]}\n")


def run_hpsweep(a, tmp, wrapper):
    path = os.path.join(tmp, "sweep.yaml")
    db = os.path.join(tmp, "hpsweep.db")
    with open(path, "w") as f:
        f.write(sweep_text(a.trials, a.epochs, a.train_limit))
    t0 = time.time()
    subprocess.run([a.hpsweep, "run", path, "--workers", "2", "--threads", "1", "--db", db,
                    "--data-dir", a.data_dir, "--program", "torch-lstm=" + wrapper],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    export = json.loads(subprocess.run([a.hpsweep, "export", "1", "--db", db, "--format",
                                        "json"], check=True, capture_output=True,
                                       text=True).stdout)
    created = float(export["sweep"]["created_at"])
    points, statuses, epochs = [], {}, 0
    for t in export["trials"]:
        statuses[t["status"]] = statuses.get(t["status"], 0) + 1
        for e in t.get("epochs", []):
            epochs += 1
            if e.get("val_f1") is not None:
                points.append((float(e["recorded_at"]) - created, float(e["val_f1"])))
    return {"wall": wall, "points": sorted(points), "statuses": statuses, "epochs": epochs,
            "trials": len(export["trials"])}


def run_optuna(a, wrapper):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=1, multivariate=True, constant_liar=True)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    points = []
    t0 = time.time()

    def objective(trial):
        params = {"hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
                  "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
                  "optimizer": trial.suggest_categorical("optimizer", ["adam", "sgd"]),
                  "epochs": a.epochs, "train_limit": a.train_limit}
        best = [None]

        def on_epoch(line):
            f1 = float(line["val_f1"])
            points.append((time.time() - t0, f1))
            best[0] = f1 if best[0] is None else max(best[0], f1)
            trial.report(f1, int(line["epoch"]))
            return trial.should_prune()

        r = program_spawn.run_program(wrapper, params, a.epochs, on_epoch=on_epoch,
                                      data_dir=a.data_dir, seed=trial.number, metric="val_f1")
        if r.stopped:
            raise optuna.TrialPruned()
        if r.returncode != 0 or best[0] is None:
            raise RuntimeError("train.py failed: exit %s: %s" % (r.returncode, r.output[-2000:]))
        return best[0]  # the best epoch's val_f1, as hpsweep ranks

    study.optimize(objective, n_trials=a.trials, n_jobs=2)
    wall = time.time() - t0
    statuses = {}
    for t in study.trials:
        statuses[t.state.name.lower()] = statuses.get(t.state.name.lower(), 0) + 1
    return {"wall": wall, "points": sorted(points), "statuses": statuses, "epochs": len(points),
            "trials": len(study.trials)}


def time_to(points, target):
    times = [t for t, v in points if v >= target]
    return round(min(times), 1) if times else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hpsweep", default="build/cli/hpsweep")
    p.add_argument("--data-dir", default="data/mnist")
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=3000)
    p.add_argument("--margin", type=float, default=0.002)
    p.add_argument("--arms", default="hpsweep,optuna")
    a = p.parse_args()
    a.hpsweep = os.path.abspath(a.hpsweep)
    a.data_dir = os.path.abspath(a.data_dir)
    program_spawn.reserve_low_fds()
    arms = a.arms.split(",")
    results = {}
    with tempfile.TemporaryDirectory(prefix="hpsweep-program-search-") as tmp:
        wrapper = os.path.join(tmp, "torch-lstm.sh")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/python3 %s \"$@\"\n"
                    % os.path.join(REPO, "examples", "pytorch-lstm", "train.py"))
        os.chmod(wrapper, 0o755)
        for arm in arms:
            r = run_hpsweep(a, tmp, wrapper) if arm == "hpsweep" else run_optuna(a, wrapper)
            r["best"] = max((v for _, v in r["points"]), default=None)
            results[arm] = r
            print(f"{arm:8} wall {r['wall']:6.1f} s  trials {r['trials']} {r['statuses']}  "
                  f"epochs {r['epochs']}  best val_f1 {r['best']}", flush=True)
    summary = {"trials": a.trials, "epochs": a.epochs, "train_limit": a.train_limit,
               "cpu": cpu_model()}
    for arm, r in results.items():
        summary[arm] = {"wall": round(r["wall"], 1), "trials": r["trials"],
                        "statuses": r["statuses"], "epochs": r["epochs"], "best": r["best"],
                        "epochs_per_s": round(r["epochs"] / r["wall"], 3)}
    targets = {}
    if "optuna" in results:
        ob = results["optuna"]["best"]
        targets["optuna_best"] = ob
        targets["optuna_best_minus_margin"] = round(ob - a.margin, 6)
    overall = max(r["best"] for r in results.values())
    targets["overall_best_minus_margin"] = round(overall - a.margin, 6)
    summary["targets"] = targets
    for name, target in targets.items():
        row = {arm: time_to(r["points"], target) for arm, r in results.items()}
        summary["to_" + name] = row
        print(f"to {name} {target:.4f}: " + "; ".join(
            f"{arm} {'not reached' if t is None else f'{t:.1f} s'}" for arm, t in row.items()),
            flush=True)
    print(json.dumps(summary))
    return 0


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    sys.exit(main())
