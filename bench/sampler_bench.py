#!/usr/bin/python3
"""hpsweep's bayes sampler against Optuna's TPESampler with the trainer held equal.

Both sides train every trial with hpsweep's engine: Optuna (TPESampler, default settings, a seed,
n_jobs=2) calls `hpsweep train --json --threads 1` as its objective; hpsweep runs `method: bayes`
with the same seed as the sweep's sampler seed, 2 local single-thread workers, the same space, the
same trial budget, the same data slice and data seed. A trial's value is its best epoch's
validation accuracy, as hpsweep ranks trials. So the difference between the two is the sampler.

Spaces:
  small   LSTM; units int 16-128, learning_rate log 1e-4-1e-1, batch_size {32, 64, 128},
          optimizer {adam, rmsprop, sgd}
  design  the design grid's axes (sweeps/design-grid.yaml) with layers 1-3 as an integer and a log
          learning rate (sweeps/bayes-lstm.yaml's space)

For each sampler seed it prints a JSON line per side: the value of each trial in the order trials
finished, with its finish time; then a table of the best value after 10, 20 and the whole budget of
trials (mean and standard deviation over seeds) and the wins per seed. Seeds given with --holdout
are reported apart: look at them only at the end, so that nothing is tuned to them.

    /usr/bin/python3 bench/sampler_bench.py --space small --seeds 7-18 [--holdout 19-26]
        [--trials 40] [--train-limit 3000] [--epochs 2] [--hpsweep build/cli/hpsweep]
        [--data-dir data/mnist] [--sides optuna,hpsweep]  (side optuna-mv: Optuna with
        multivariate=True, constant_liar=True, the settings hpsweep's TPE follows; side
        hpsweep-tpe: hpsweep with bayes.model: tpe) [--good 0.80] [--points FILE]

--points FILE appends, per seed and side, every trial's value and point (one JSON line each).
    /usr/bin/python3 bench/sampler_bench.py --noise   (a few points, each with seeds 1-3)

The table also counts, per side, the trials after the start-up whose value reached --good.

One seed of one side takes about 20 s on 2 cores (small space, 3,000 images, 2 epochs).
Needs Debian's python3-optuna.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Per space: (name, kind, spec) with kind int/log/values, as both samplers are told.
SPACES = {
    "small": [("units", "int", (16, 128)), ("learning_rate", "log", (1e-4, 1e-1)),
              ("batch_size", "values", [32, 64, 128]),
              ("optimizer", "values", ["adam", "rmsprop", "sgd"])],
    "design": [("units", "int", (32, 256)), ("activation", "values", ["tanh", "relu"]),
               ("optimizer", "values", ["adam", "rmsprop", "sgd"]),
               ("batch_size", "values", [32, 64, 128]), ("layers", "int", (1, 3)),
               ("learning_rate", "log", (1e-4, 1e-1))],
}


def seeds_of(text):
    out = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def cpu_line():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%s, %d CPUs" % (model, os.cpu_count())


# Every trial's (value, params) of the side being run, in the order they finished: written to
# --points, to see where each sampler spends its trials.
POINTS = []


def train_json(args, trial, space):
    """Runs `hpsweep train --json` on the point Optuna's `trial` suggests; its parsed output."""
    flags = ["--cell", "lstm", "--epochs", str(args.epochs), "--train-limit",
             str(args.train_limit), "--validation-split", "0.2",
             "--seed", str(getattr(args, "seed", 1))]
    for name, kind, spec in space:
        if kind == "int":
            v = trial.suggest_int(name, *spec)
        elif kind == "log":
            v = trial.suggest_float(name, *spec, log=True)
        else:
            v = trial.suggest_categorical(name, spec)
        flags += ["--" + name.replace("_", "-"), str(v)]
    out = subprocess.run([args.hpsweep, "train", "--json", "--threads", "1", "--data-dir",
                          args.data_dir] + flags, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def run_optuna(args, space, seed, multivariate=False):
    """Optuna's TPESampler(seed), or with multivariate=True, constant_liar=True (the settings
    hpsweep's sampler follows: side `optuna-mv`)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    finished = []

    def objective(trial):
        value = max(e["val_accuracy"] for e in train_json(args, trial, space)["history"])
        finished.append((time.perf_counter() - start, value))
        POINTS.append((value, dict(trial.params)))
        return value

    options = {"multivariate": True, "constant_liar": True} if multivariate else {}
    if multivariate:
        import warnings
        warnings.simplefilter("ignore")  # (Optuna calls both options experimental)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed, **options))
    study.optimize(objective, n_trials=args.trials, n_jobs=2)
    return finished


def run_sweep(args, space, seed, metric, model="auto"):
    """`hpsweep run` of a bayes sweep over `space` whose `metric:` line is `metric`, with 2 local
    workers; (seconds from the start to each completed trial's end, the trial's export), in the
    order they finished."""
    lines = ["name: sampler-bench-%d" % seed, "data:", "  dataset: mnist",
             "  train_limit: %d" % args.train_limit, "  validation_split: 0.2", "  seed: 1",
             "method: bayes", "metric: " + metric,
             "max_trials: %d" % args.trials, "seed: %d" % seed, "bayes: {model: %s}" % model,
             "fixed: {cell: lstm, epochs: %d}" % args.epochs, "parameters:"]
    for name, kind, spec in space:
        if kind == "int":
            lines.append("  %s: {distribution: int_uniform, min: %d, max: %d}" % (name, *spec))
        elif kind == "log":
            lines.append("  %s: {distribution: log_uniform, min: %g, max: %g}" % (name, *spec))
        else:
            lines.append("  %s: {values: [%s]}" % (name, ", ".join(map(str, spec))))
    with tempfile.TemporaryDirectory(prefix="hpsweep_sampler_bench.") as d:
        path, db = os.path.join(d, "s.yaml"), os.path.join(d, "s.db")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        start = time.time()
        subprocess.run([args.hpsweep, "run", path, "--workers", "2", "--threads", "1", "--db", db,
                        "--data-dir", args.data_dir], capture_output=True, text=True, check=True)
        out = subprocess.run([args.hpsweep, "export", "1", "--db", db], capture_output=True,
                             text=True, check=True).stdout
    trials = [t for t in json.loads(out)["trials"] if t["status"] == "completed"]
    trials.sort(key=lambda t: t.get("finished_at") or 0)
    return [((t.get("finished_at") or start) - start, t) for t in trials]


def run_hpsweep(args, space, seed, model="auto"):
    trials = run_sweep(args, space, seed, "{name: val_accuracy, goal: maximize}", model)
    POINTS.extend((t["best_val_accuracy"], t["params"]) for _, t in trials)
    return [(s, t["best_val_accuracy"]) for s, t in trials]


def best_after(finished, n):
    values = [v for _, v in finished[:n]]
    return max(values) if values else float("nan")


def summary(title, results, marks, good, startup=10):
    print("\n%s (%d seeds)" % (title, len(results)))
    print("| side | " + " | ".join("best after %d" % m for m in marks) +
          " | wins | trials %d-%d at >= %.2f |" % (startup + 1, marks[-1], good))
    print("|---|" + "---:|" * (len(marks) + 2))
    sides = sorted({side for r in results for side in r["sides"]})
    for side in sides:
        cells = []
        for m in marks:
            v = [best_after(r["sides"][side], m) for r in results if side in r["sides"]]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append("%.4f ± %.4f" % (statistics.mean(v), sd))
        wins = sum(1 for r in results if len(r["sides"]) == len(sides) > 1 and
                   best_after(r["sides"][side], marks[-1]) >
                   max(best_after(r["sides"][o], marks[-1]) for o in sides if o != side))
        # How many trials after the start-up reached `good`: with a noisy metric, the best of
        # more good trials is higher, so this says where a sampler spends its trials.
        n_good = [sum(1 for _, v in r["sides"][side][startup:marks[-1]] if v >= good)
                  for r in results if side in r["sides"]]
        print("| %s | %s | %d | %.1f |" % (side, " | ".join(cells), wins,
                                           statistics.mean(n_good)))


def noise(args):
    """--noise: how much a trial's value is the point's and how much its seed's. Trains a few
    points of the small space, each with initialisation seeds 1-3, and prints the three values,
    their mean and their spread."""
    import concurrent.futures

    class Fixed:  # answers train_json's suggest_* calls with one point's values
        def __init__(self, point):
            self.point = point

        def suggest_int(self, name, *_, **__):
            return self.point[name]

        suggest_float = suggest_categorical = suggest_int

    points = [{"units": u, "learning_rate": lr, "batch_size": 32, "optimizer": o}
              for u in (64, 128) for lr in (1e-3, 3e-3, 1e-2, 3e-2) for o in ("adam", "rmsprop")]
    jobs = [(p, seed) for p in points for seed in (1, 2, 3)]

    def run(job):
        point, seed = job
        seeded = argparse.Namespace(**vars(args))
        seeded.seed = seed
        out = train_json(seeded, Fixed(point), SPACES["small"])
        return max(e["val_accuracy"] for e in out["history"])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        values = list(pool.map(run, jobs))
    print("| units | learning_rate | optimizer | seed 1 | seed 2 | seed 3 | mean | max - min |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for i, p in enumerate(points):
        v = values[3 * i:3 * i + 3]
        print("| %d | %g | %s | %s | %.4f | %.4f |" % (
            p["units"], p["learning_rate"], p["optimizer"], " | ".join("%.4f" % x for x in v),
            statistics.mean(v), max(v) - min(v)))
    return 0


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--space", choices=sorted(SPACES), default="small")
    a.add_argument("--seeds", default="7-18")
    a.add_argument("--holdout", default="")
    a.add_argument("--trials", type=int, default=40)
    a.add_argument("--train-limit", type=int, default=3000)
    a.add_argument("--epochs", type=int, default=2)
    a.add_argument("--sides", default="optuna,hpsweep")
    a.add_argument("--hpsweep", default=os.path.join(REPO, "build", "cli", "hpsweep"))
    a.add_argument("--data-dir", default=os.path.join(REPO, "data", "mnist"))
    a.add_argument("--good", type=float, default=0.80)
    a.add_argument("--noise", action="store_true")
    a.add_argument("--points", default="",
                   help="append each seed and side's trials, {seed, side, trials: [[value, "
                        "params], ...]} a line, to this file")
    args = a.parse_args()
    space = SPACES[args.space]
    if args.noise:
        return noise(args)
    print("cpu: " + cpu_line())
    print("space %s, %d trials, %d images (20%% validate), %d epochs" % (
        args.space, args.trials, args.train_limit, args.epochs), flush=True)
    marks = sorted({m for m in (10, 20, args.trials) if m <= args.trials})
    for title, seeds in (("Seeds " + args.seeds, seeds_of(args.seeds)),
                         ("Held-out seeds " + args.holdout, seeds_of(args.holdout))):
        results = []
        for seed in seeds:
            r = {"seed": seed, "sides": {}}
            for side in args.sides.split(","):
                del POINTS[:]
                if side == "optuna-mv":
                    r["sides"][side] = run_optuna(args, space, seed, multivariate=True)
                elif side == "hpsweep-tpe":
                    r["sides"][side] = run_hpsweep(args, space, seed, model="tpe")
                else:
                    run = run_optuna if side == "optuna" else run_hpsweep
                    r["sides"][side] = run(args, space, seed)
                print(json.dumps({"seed": seed, "side": side, "finished": r["sides"][side]}),
                      flush=True)
                if args.points:
                    with open(args.points, "a") as f:
                        f.write(json.dumps({"seed": seed, "side": side, "trials": POINTS}) + "\n")
            results.append(r)
        if results:
            summary(title, results, marks, args.good)


if __name__ == "__main__":
    sys.exit(main())
