#!/usr/bin/python3
"""The headline search benchmark: time to a good LSTM on the design grid's space, four ways.

1. grid:      the full design grid (sweeps/design-grid.yaml's 270 trials), every trial to the end;
2. hyperband: the same grid with early_terminate {type: hyperband, min_iter: 1, eta: 3};
3. bayes:     method: bayes (TPE) with the same hyperband and a trial budget (--bayes-trials);
4. optuna:    Optuna's TPE (multivariate, constant liar) with its successive-halving pruner driving
              PyTorch (bench/optuna_search.py), the same space, data, epochs and cores.

Each arm runs alone, one after the other, with 2 single-thread workers (Optuna: n_jobs 2, one torch
thread each). The target is the grid's best validation accuracy minus --margin (0.002: 0.2 points).
For both the time to target is to the end of the first epoch that reaches it: for hpsweep from the
sweep's submission to when the coordinator stored that epoch (the export's recorded_at), for
Optuna from the study's start. After the Optuna arm it also prints each arm's time to the best
accuracy Optuna reached ("the same accuracy"), and the ratio to Optuna's time to it. Prints a line
per arm and a JSON summary; docs/benchmarks.md quotes it.

    /usr/bin/python3 bench/search_bench.py [--hpsweep build/cli/hpsweep] [--data-dir data/mnist]
        [--train-limit 12000] [--epochs 2] [--bayes-trials 60] [--optuna-timeout S] [--arms ...]

The full run (12,000 images, 2 epochs) takes about 1.5-2 hours on 2 cores; --train-limit 3000 is a
quicker look (about 30 minutes). With --epochs 9 (sweeps/hyperband-lstm.yaml's setting: rungs at
epochs 1 and 3) and --train-limit 3000 the grid arm alone takes about 30 minutes, the whole run
about an hour with --optuna-timeout 900.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SPACE = """parameters:
  units: {values: [32, 48, 96, 128, 256]}
  activation: {values: [tanh, relu]}
  optimizer: {values: [adam, rmsprop, sgd]}
  batch_size: {values: [32, 64, 128]}
  layers: {values: [1, 2, 3]}
"""


def sweep_text(name, method, train_limit, epochs, extra=""):
    return (f"name: {name}\n"
            f"data: {{dataset: mnist, train_limit: {train_limit}, validation_split: 0.2, seed: 1}}\n"
            f"method: {method}\n"
            "metric: {name: val_accuracy, goal: maximize}\n"
            "max_attempts: 2\n"
            f"fixed: {{cell: lstm, epochs: {epochs}, output: softmax, "
            "loss: sparse_categorical_crossentropy}\n" + extra + SPACE)


def run_hpsweep(a, tmp, name, text):
    path = os.path.join(tmp, name + ".yaml")
    db = os.path.join(tmp, name + ".db")
    with open(path, "w") as f:
        f.write(text)
    t0 = time.time()
    subprocess.run([a.hpsweep, "run", path, "--workers", "2", "--threads", "1", "--db", db,
                    "--data-dir", a.data_dir], check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    out = subprocess.run([a.hpsweep, "export", "--db", db, "--format", "json"], check=True,
                         capture_output=True, text=True).stdout
    export = json.loads(out)
    trials = export["trials"]
    created = float(export["sweep"]["created_at"])
    epochs = sum(len(t.get("epochs", [])) for t in trials)
    statuses = {}
    for t in trials:
        statuses[t["status"]] = statuses.get(t["status"], 0) + 1
    return {"wall": wall, "created": created, "trials": trials, "epochs": epochs,
            "statuses": statuses,
            "best": max((_best(t) for t in trials), default=-1)}


def _best(trial):
    """A trial's best val_accuracy; -1 when it has none (null in the export, or absent)."""
    v = trial.get("best_val_accuracy")
    return -1.0 if v is None else float(v)


def time_to(result, target):
    """Seconds from the sweep's submission until an epoch first reached `target` validation
    accuracy (its recorded_at: the coordinator stored that epoch), as Optuna's arm counts to the
    end of the epoch that reaches it. None when no epoch did."""
    times = [float(e["recorded_at"]) - result["created"] for t in result["trials"]
             for e in t.get("epochs", [])
             if e.get("val_accuracy") is not None and float(e["val_accuracy"]) >= target]
    return min(times) if times else None


def curve_time_to(curve, target):
    """The same for Optuna's best_curve ([seconds, accuracy] pairs)."""
    times = [t for t, v in curve if v >= target]
    return min(times) if times else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hpsweep", default="build/cli/hpsweep")
    p.add_argument("--data-dir", default="data/mnist")
    p.add_argument("--train-limit", type=int, default=12000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--margin", type=float, default=0.002)
    p.add_argument("--bayes-trials", type=int, default=60)
    p.add_argument("--optuna-timeout", type=float, default=0,
                   help="seconds (default: 3x the grid's wall time)")
    p.add_argument("--arms", default="grid,hyperband,bayes,optuna")
    a = p.parse_args()
    arms = a.arms.split(",")
    a.hpsweep = os.path.abspath(a.hpsweep)
    a.data_dir = os.path.abspath(a.data_dir)
    summary = {"train_limit": a.train_limit, "epochs": a.epochs}
    hyperband = "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n"
    with tempfile.TemporaryDirectory(prefix="hpsweep-search-bench-") as tmp:
        grid = run_hpsweep(a, tmp, "grid", sweep_text("grid", "grid", a.train_limit, a.epochs))
        target = grid["best"] - a.margin
        summary["grid"] = {"wall": round(grid["wall"], 1), "best": grid["best"],
                           "epochs": grid["epochs"], "to_target": round(time_to(grid, target), 1)}
        results = {"grid": grid}
        summary["target"] = target
        print(f"grid       wall {grid['wall']:7.1f} s  best {grid['best']:.4f}  epochs "
              f"{grid['epochs']}  target {target:.4f}", flush=True)
        for arm in ("hyperband", "bayes"):
            if arm not in arms:
                continue
            extra = hyperband
            method = "grid"
            if arm == "bayes":
                method = "bayes"
                extra += f"max_trials: {a.bayes_trials}\n"
            r = run_hpsweep(a, tmp, arm, sweep_text(arm, method, a.train_limit, a.epochs, extra))
            results[arm] = r
            tt = time_to(r, target)
            summary[arm] = {"wall": round(r["wall"], 1), "best": r["best"], "epochs": r["epochs"],
                            "statuses": r["statuses"],
                            "to_target": None if tt is None else round(tt, 1)}
            print(f"{arm:10} wall {r['wall']:7.1f} s  best {r['best']:.4f}  epochs {r['epochs']}"
                  f"  to target {'not reached' if tt is None else f'{tt:.1f} s'}  {r['statuses']}",
                  flush=True)
        if "optuna" in arms:
            timeout = a.optuna_timeout or 3 * grid["wall"]
            out = subprocess.run(
                ["/usr/bin/python3", os.path.join(HERE, "optuna_search.py"), "--data-dir",
                 a.data_dir, "--train-limit", str(a.train_limit), "--epochs", str(a.epochs),
                 "--target", str(target), "--timeout", str(timeout), "--jobs", "2", "--threads",
                 "1"], check=True, capture_output=True, text=True).stdout
            last = json.loads(out.strip().splitlines()[-1])
            summary["optuna"] = last
            tt = last["seconds_to_target"]
            print(f"optuna     wall {last['seconds']:7.1f} s  best {last['best_val_accuracy']:.4f}"
                  f"  epochs {last['epochs_trained']}  to target "
                  f"{'not reached' if tt is None else f'{tt:.1f} s'} (timeout {timeout:.0f} s)",
                  flush=True)
            # The same accuracy: the best Optuna reached, and when; each hpsweep arm's time to it.
            level = last["best_val_accuracy"]
            optuna_to = curve_time_to(last["best_curve"], level)
            same = {"accuracy": level, "optuna": optuna_to}
            for arm, r in results.items():
                same[arm] = time_to(r, level)
                if same[arm] is not None:
                    same[arm] = round(same[arm], 1)
            summary["to_optuna_best"] = same
            if optuna_to is None:  # (no epoch ran)
                optuna_to = float("nan")
            print(f"to Optuna's best {level:.4f}: optuna {optuna_to:.1f} s; " + "; ".join(
                f"{arm} " + ("not reached" if same[arm] is None else
                             f"{same[arm]:.1f} s ({optuna_to / max(same[arm], 1e-9):.1f}x)")
                for arm in results), flush=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
