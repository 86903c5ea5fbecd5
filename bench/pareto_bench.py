#!/usr/bin/python3
"""hpsweep's multi-objective bayes against Optuna's NSGA-II and MOTPE, the trainer held equal.

Two objectives: validation accuracy (maximize) and parameter count (minimize). Every side trains
each trial with hpsweep's engine: Optuna (NSGAIISampler or TPESampler, default settings, a seed,
n_jobs=2) calls `hpsweep train --json --threads 1` as its objective and returns its best epoch's
val_accuracy and its param_count; hpsweep runs `method: bayes` with `metric: [val_accuracy,
param_count]` (TPE whose good/bad split follows the non-dominated fronts, search/ranking.h), the
same seed as its sampler seed, 2 local single-thread workers. Same space, data slice, data seed
and trial budget.

Space: the design grid's LSTM axes with units up to 256 (units int 32-256, activation {tanh,
relu}, optimizer {adam, rmsprop, sgd}, batch_size {32, 64, 128}, layers int 1-3, learning_rate
log 1e-4-1e-1).

Score: the hypervolume dominated by the trials finished so far, in the plane (val_accuracy,
param_count) against the reference point (val_accuracy 0, param_count 1,500,000: above the
largest model of the space, 1.35 M), after 25, 50 and 100 trials; and each side's wall time.
Larger is better. Seeds given with --holdout are reported apart.

    /usr/bin/python3 bench/pareto_bench.py --seeds 1-4 [--holdout 5-6] [--trials 100]
        [--train-limit 2000] [--epochs 1] [--sides hpsweep,nsga2,motpe]

Needs Debian's python3-optuna.
"""
import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(REPO, "bench"))
from sampler_bench import SPACES, cpu_line, run_sweep, seeds_of, train_json  # noqa: E402

REF_PARAMS = 1.5e6


def hypervolume(points):
    """Area dominated by (accuracy, params) points within [0, REF] (accuracy up, params down),
    divided by REF_PARAMS: 1.0 would be a perfect model of no parameters."""
    steps, best = [], 0.0
    for p, a in sorted((p, a) for a, p in points if p < REF_PARAMS and a > 0):
        if a > best:  # the staircase of the best accuracy reachable at each size
            steps.append((p, a))
            best = a
    area = 0.0
    for i, (p, a) in enumerate(steps):
        nxt = steps[i + 1][0] if i + 1 < len(steps) else REF_PARAMS
        area += (nxt - p) * a
    return area / REF_PARAMS


def run_optuna(args, space, seed, which):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    finished = []

    def objective(trial):
        result = train_json(args, trial, space)
        acc = max(e["val_accuracy"] for e in result["history"])
        finished.append((time.perf_counter() - start, acc, result["param_count"]))
        return acc, result["param_count"]

    sampler = (optuna.samplers.NSGAIISampler(seed=seed) if which == "nsga2"
               else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=args.trials, n_jobs=2)
    return finished


def run_hpsweep(args, space, seed):
    metric = "[{name: val_accuracy, goal: maximize}, {name: param_count, goal: minimize}]"
    return [(s, t["best_val_accuracy"], t["objectives"]["param_count"])
            for s, t in run_sweep(args, space, seed, metric)]


def hv_after(finished, n):
    return hypervolume([(a, p) for _, a, p in finished[:n]])


def summary(title, results, marks):
    print("\n%s (%d seeds)" % (title, len(results)))
    print("| side | " + " | ".join("hypervolume after %d" % m for m in marks) +
          " | wall time, s | wins |")
    print("|---|" + "---:|" * (len(marks) + 2))
    sides = list(results[0]["sides"]) if results else []
    for side in sides:
        cells = []
        for m in marks:
            v = [hv_after(r["sides"][side], m) for r in results]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append("%.4f ± %.4f" % (statistics.mean(v), sd))
        wall = statistics.median(r["sides"][side][-1][0] for r in results)
        wins = sum(1 for r in results if hv_after(r["sides"][side], marks[-1]) >
                   max((hv_after(r["sides"][o], marks[-1]) for o in sides if o != side),
                       default=float("-inf")))
        print("| %s | %s | %.0f | %d |" % (side, " | ".join(cells), wall, wins))


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--seeds", default="1-4")
    a.add_argument("--holdout", default="")
    a.add_argument("--trials", type=int, default=100)
    a.add_argument("--train-limit", type=int, default=2000)
    a.add_argument("--epochs", type=int, default=1)
    a.add_argument("--sides", default="hpsweep,nsga2,motpe")
    a.add_argument("--hpsweep", default=os.path.join(REPO, "build", "cli", "hpsweep"))
    a.add_argument("--data-dir", default=os.path.join(REPO, "data", "mnist"))
    a.add_argument("--logs", nargs="*", default=[],
                   help="summarise the JSON lines of earlier runs (of one sitting) instead of "
                        "running: each seed's sides may come from different files")
    args = a.parse_args()
    if args.logs:
        by_seed = {}
        for path in args.logs:
            with open(path) as f:
                for line in f:
                    if line.startswith("{"):
                        d = json.loads(line)
                        by_seed.setdefault(d["seed"], {})[d["side"]] = d["finished"]
        sides = args.sides.split(",")
        results = [{"seed": s, "sides": {k: v[k] for k in sides}}
                   for s, v in sorted(by_seed.items()) if all(k in v for k in sides)]
        marks = sorted({m for m in (25, 50, args.trials) if m <= args.trials})
        summary("Seeds " + ", ".join(str(r["seed"]) for r in results), results, marks)
        return 0
    space = SPACES["design"]
    print("cpu: " + cpu_line())
    print("design space, %d trials, %d images (20%% validate), %d epochs; reference point "
          "(val_accuracy 0, param_count %d)" % (args.trials, args.train_limit, args.epochs,
                                                 REF_PARAMS), flush=True)
    marks = sorted({m for m in (25, 50, args.trials) if m <= args.trials})
    for title, seeds in (("Seeds " + args.seeds, seeds_of(args.seeds)),
                         ("Held-out seeds " + args.holdout, seeds_of(args.holdout))):
        results = []
        for seed in seeds:
            r = {"seed": seed, "sides": {}}
            for side in args.sides.split(","):
                r["sides"][side] = (run_hpsweep(args, space, seed) if side == "hpsweep"
                                    else run_optuna(args, space, seed, side))
                print(json.dumps({"seed": seed, "side": side,
                                  "hypervolume": hv_after(r["sides"][side], args.trials),
                                  "finished": r["sides"][side]}), flush=True)
            results.append(r)
        if results:
            summary(title, results, marks)


if __name__ == "__main__":
    sys.exit(main())
