#!/usr/bin/python3
"""Population-based training against the best fixed schedule a bayes + hyperband sweep finds.

Both sides tune an LSTM's learning rate (log 1e-4..1e-2) and dropout (0..0.5) on the same MNIST
slice, the same data seed, with 2 local single-thread workers (`hpsweep run --workers 2`):

  pbt       method: pbt, a population of --population members of --epochs epochs, segments of
            --interval epochs, learning_rate and dropout mutable (quantile 0.25, resample 0.25)
  bayes+hb  method: bayes (TPE) with early_terminate hyperband (min_iter --interval, eta 2), as many
            trials as make its epochs trained about the population's (--hb-trials, default
            population * epochs / 4, hyperband's expected epochs a trial here)

For each seed (the sweeps' sampler seed) it prints a JSON line per side: the epochs it trained, its
wall seconds, and the test accuracy of its best trial by validation accuracy (what a user would
keep); then the medians. The engine is deterministic for a seed and thread count, so the accuracies
do not depend on the machine's load; the seconds do.

    /usr/bin/python3 bench/pbt_bench.py --seeds 1-3 [--units 128] [--epochs 8] [--interval 2]
        [--population 8] [--train-limit 12000] [--hpsweep build/cli/hpsweep] [--data-dir data/mnist]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from sampler_bench import cpu_line, seeds_of  # noqa: E402


def sweep_yaml(args, side, seed):
    lines = ["name: pbt-bench-%s-%d" % (side.replace("+", "-"), seed), "data:", "  dataset: mnist",
             "  train_limit: %d" % args.train_limit, "  validation_split: 0.2", "  seed: 1",
             "metric: {name: val_accuracy, goal: maximize}", "seed: %d" % seed,
             "fixed: {cell: lstm, units: %d, epochs: %d, batch_size: 64, optimizer: adam}"
             % (args.units, args.epochs),
             "parameters:",
             "  learning_rate: {distribution: log_uniform, min: 0.0001, max: 0.01}",
             "  dropout: {distribution: uniform, min: 0.0, max: 0.5}"]
    if side == "pbt":
        lines += ["method: pbt",
                  "pbt: {population: %d, interval: %d, quantile: 0.25, resample_probability: 0.25,"
                  " mutable: [learning_rate, dropout]}" % (args.population, args.interval)]
    else:
        lines += ["method: bayes", "max_trials: %d" % args.hb_trials,
                  "bayes: {n_startup_trials: %d}" % max(2, args.hb_trials // 3),
                  "early_terminate: {type: hyperband, min_iter: %d, eta: 2}" % args.interval]
    return "\n".join(lines) + "\n"


def run_side(args, side, seed):
    with tempfile.TemporaryDirectory(prefix="hpsweep_pbt_bench.") as d:
        path, db = os.path.join(d, "s.yaml"), os.path.join(d, "s.db")
        with open(path, "w") as f:
            f.write(sweep_yaml(args, side, seed))
        start = time.perf_counter()
        subprocess.run([args.hpsweep, "run", path, "--workers", "2", "--threads", "1", "--db", db,
                        "--data-dir", args.data_dir], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        out = subprocess.run([args.hpsweep, "export", "1", "--db", db], capture_output=True,
                             text=True, check=True).stdout
    trials = json.loads(out)["trials"]
    done = [t for t in trials if t["status"] == "completed"]
    best = max(done, key=lambda t: t["best_val_accuracy"])
    if side == "pbt":
        epochs = args.population * args.epochs  # each member trains every segment once
        exploits = sum(1 for t in trials for e in t.get("schedule", []) if "from" in e)
    else:
        epochs = sum(t["epochs_run"] for t in trials)
        exploits = 0
    return {"side": side, "seed": seed, "epochs_trained": epochs, "seconds": round(seconds, 1),
            "best_val_accuracy": best["best_val_accuracy"],
            "test_accuracy": best["test_accuracy"], "best_trial": best["number"],
            "params": best["params"], "schedule": best.get("schedule"),
            "schedule_steps": exploits}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1-3")
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--interval", type=int, default=2)
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--hb-trials", type=int, default=0)
    p.add_argument("--train-limit", type=int, default=12000)
    p.add_argument("--hpsweep", default="build/cli/hpsweep")
    p.add_argument("--data-dir", default="data/mnist")
    p.add_argument("--sides", default="pbt,bayes+hb")
    args = p.parse_args()
    if args.hb_trials <= 0:
        args.hb_trials = args.population * args.epochs // 4
    print("# " + cpu_line(), flush=True)
    results = {}
    for seed in seeds_of(args.seeds):
        for side in args.sides.split(","):
            r = run_side(args, side, seed)
            print(json.dumps(r), flush=True)
            results.setdefault(side, []).append(r)
    print("\n| side | seeds | epochs trained (median) | best trial's test accuracy (median) "
          "| per seed | wall s (median) |")
    print("|---|---|---|---|---|---|")
    for side, rs in results.items():
        print("| %s | %d | %d | %.4f | %s | %.0f |" % (
            side, len(rs), statistics.median(r["epochs_trained"] for r in rs),
            statistics.median(r["test_accuracy"] for r in rs),
            ", ".join("%.4f" % r["test_accuracy"] for r in rs),
            statistics.median(r["seconds"] for r in rs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
