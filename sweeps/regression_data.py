#!/usr/bin/env python3
"""Writes the CSV files of sweeps/regression_example.yaml (standard library only).

Each row is a noisy sequence of 12 steps and the two values a model should predict at its end:
  next  - the sequence's next value: x(t) = sin(w t + p) + 0.1 * noise, for t = 12
  mean  - the mean of the 12 steps
so a row reads `next,mean,x1,...,x12` (targets first: `targets: 2`; sequence_length 12 gives one
feature a step). Frequencies w in [0.3, 1.2] and phases p are drawn per row, with a fixed seed.

  python3 sweeps/regression_data.py [OUT_DIR]     (default: sweeps/regression, 2000 + 500 rows)
"""
import math
import os
import random
import sys


def write(path, rows, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("next,mean," + ",".join("x%d" % (t + 1) for t in range(12)) + "\n")
        for _ in range(rows):
            w, p = rng.uniform(0.3, 1.2), rng.uniform(0, 2 * math.pi)
            xs = [math.sin(w * t + p) + 0.1 * rng.gauss(0, 1) for t in range(13)]
            seq = xs[:12]
            f.write("%.5f,%.5f," % (xs[12], sum(seq) / 12) + ",".join("%.5f" % v for v in seq))
            f.write("\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                             "regression")
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "train.csv"), 2000, 1)
    write(os.path.join(out, "test.csv"), 500, 2)
    print("wrote %s/train.csv (2000 rows) and %s/test.csv (500 rows)" % (out, out))


if __name__ == "__main__":
    main()
