#!/usr/bin/python3
"""TPE at scale: one proposal's time with 1,000, 5,000 and 10,000 finished trials in the history,
hpsweep's bayes sampler against Optuna's TPESampler on the same histories.

    /usr/bin/python3 bench/tpe_scale.py [--build build] [--sizes 1000,5000,10000] [--rounds 9]

build/bench/hpsweep_tpe_scale writes the histories (six parameters: two categorical, two integer,
one log-scale, one float; random points scored by a fixed function) and times its own
proposals; this script loads each history into an in-memory Optuna study (create_trial +
add_trials) and times study.ask() with the six distributions, which samples every parameter, for
TPESampler() as a user gets it and for TPESampler(multivariate=True, constant_liar=True), the
settings hpsweep's sampler follows. Each figure is the median of --rounds proposals; the ratio is
Optuna's median over hpsweep's, measured in this one run.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings


def optuna_times(path, rounds, **sampler_args):
    import optuna
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    dists = {
        "cell": CategoricalDistribution(["lstm", "gru", "simple_rnn"]),
        "activation": CategoricalDistribution(["relu", "tanh"]),
        "units": IntDistribution(8, 256),
        "layers": IntDistribution(1, 4),
        "learning_rate": FloatDistribution(1e-5, 1.0, log=True),
        "recurrent_dropout": FloatDistribution(0.0, 0.5),
    }
    trials = []
    with open(path) as f:
        for row in csv.DictReader(f):
            params = {"cell": row["cell"], "activation": row["activation"],
                      "units": int(row["units"]), "layers": int(row["layers"]),
                      "learning_rate": float(row["learning_rate"]),
                      "recurrent_dropout": float(row["recurrent_dropout"])}
            trials.append(optuna.trial.create_trial(params=params, distributions=dists,
                                                    value=float(row["value"])))
    sampler = optuna.samplers.TPESampler(seed=7, **sampler_args)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.add_trials(trials)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        trial = study.ask(fixed_distributions=dists)
        times.append((time.perf_counter() - t0) * 1000)
        # Failed, so the next round's history is the same finished trials.
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    if not 1 <= args.rounds <= 1000:
        sys.exit("tpe_scale: --rounds must be in 1..1000")
    exe = os.path.join(args.build, "bench", "hpsweep_tpe_scale")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([exe, "--sizes", args.sizes, "--rounds", str(args.rounds),
                              "--write-histories", tmp], check=True, capture_output=True,
                             text=True).stdout
        ours = {}
        for line in out.splitlines():
            if line.startswith("cpu:"):
                print(line)
            parts = line.split()
            if parts and parts[0].isdigit():
                ours[int(parts[0])] = float(parts[1])
        import optuna
        print("optuna %s; median of %d proposals, ms" % (optuna.__version__, args.rounds))
        print("%-8s %10s %14s %14s %9s %9s" % ("history", "hpsweep", "optuna_default",
                                               "optuna_mv_cl", "x_default", "x_mv_cl"))
        for n in sorted(ours):
            path = os.path.join(tmp, "history_%d.csv" % n)
            default = optuna_times(path, args.rounds)
            mv = optuna_times(path, args.rounds, multivariate=True, constant_liar=True)
            print("%-8d %10.2f %14.1f %14.1f %8.0fx %8.0fx" % (
                n, ours[n], default, mv, default / ours[n], mv / ours[n]))


if __name__ == "__main__":
    main()
