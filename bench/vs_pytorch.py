#!/usr/bin/python3
"""hpsweep's engine against PyTorch on this machine, round-robin, for the README's claim.

For each model (LSTM-128 + Dense 64, GRU-128, SimpleRNN-128, LSTM-32; batch 128, 28 steps of 28
features, 10 classes) and thread count (1, 2), the two trainers take turns: one round of
`hpsweep bench` (forward, backward and the gradient sum of a training step), then one round of the
same step in PyTorch (forward, backward, Adam), and again, so that the shared machine's load falls
on both alike. Each figure is the median of its rounds in samples/s. PyTorch's two thread pools
(its own OpenMP one and the BLAS's) are tried three ways at 2 threads and its best is compared.

Prints the CPU (model and the ISA flags that matter), the BLAS PyTorch resolved, then a Markdown
table. Needs Debian's python3-torch; install libopenblas0-pthread too, or PyTorch runs on the
reference BLAS (the script says which).

    /usr/bin/python3 bench/vs_pytorch.py [--seconds S] [--rounds R] [--hpsweep BIN]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MODELS = [  # name, hpsweep bench flags, PyTorch cell, units, dense head
    ("LSTM-128 + Dense 64", ["--cell", "lstm", "--units", "128", "--dense", "64"], "lstm", 128, 64),
    ("GRU-128", ["--cell", "gru", "--units", "128"], "gru", 128, 0),
    ("SimpleRNN-128", ["--cell", "simple_rnn", "--units", "128"], "rnn", 128, 0),
    ("LSTM-32", ["--cell", "lstm", "--units", "32"], "lstm", 32, 0),
]
# PyTorch at T threads: (label, torch.set_num_threads, BLAS threads).
TORCH_SETTINGS = {1: [("1 thread", 1, 1)],
                  2: [("torch 2, BLAS 1", 2, 1), ("torch 1, BLAS 2", 1, 2),
                      ("torch 2, BLAS 2", 2, 2)]}

# The PyTorch side: a process per setting (thread pools are fixed at start), reading one line per
# round ("SECONDS") and answering the round's samples/s.
TORCH_SERVER = r"""
import sys, time, torch
cell, units, dense, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](28, units, batch_first=True)
head = [torch.nn.Linear(units, dense), torch.nn.Tanh(), torch.nn.Linear(dense, 10)] if dense else [torch.nn.Linear(units, 10)]
head = torch.nn.Sequential(*head)
params = list(rnn.parameters()) + list(head.parameters())
opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
x, y, batch, step = torch.rand(4096, 28, 28), torch.randint(0, 10, (4096,)), 128, 0
def one():
    global step
    lo = (step * batch) % (4096 - batch)
    step += 1
    opt.zero_grad()
    h, _ = rnn(x[lo:lo + batch])
    loss_fn(head(h[:, -1, :]), y[lo:lo + batch]).backward()
    opt.step()
for _ in range(3):
    one()
print("ready", flush=True)
for line in sys.stdin:
    seconds, n, t0 = float(line), 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        one()
        n += 1
    print(n * batch / (time.perf_counter() - t0), flush=True)
"""


def cpu_line():
    model, flags = "unknown CPU", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    isa = [x for x in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
           if x in flags]
    return "%s, %d cores online; ISA: %s" % (model, os.cpu_count(), " ".join(isa))


def torch_blas():
    code = ("import torch, re; c = torch.__config__.show(); "
            "print(torch.__version__, re.search('BLAS_INFO=([^,]*)', c).group(1))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    kind = "OpenBLAS" if "openblas" in blas else "BLIS" if "blis" in blas else "reference BLAS"
    return "PyTorch %s, BLAS_INFO=%s -> %s (%s)" % (*out.split(), blas, kind)


def start_torch(cell, units, dense, torch_threads, blas_threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads), OMP_NUM_THREADS=str(torch_threads))
    p = subprocess.Popen([sys.executable, "-c", TORCH_SERVER, cell, str(units), str(dense),
                          str(torch_threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=env)
    if p.stdout.readline().strip() != "ready":
        sys.exit("PyTorch side did not start")
    return p


def torch_round(p, seconds):
    p.stdin.write("%g\n" % seconds)
    p.stdin.flush()
    return float(p.stdout.readline())


def hpsweep_round(binary, flags, threads, seconds):
    out = subprocess.run([binary, "bench", *flags, "--batch-size", "128", "--threads",
                          str(threads), "--seconds", str(seconds), "--rounds", "1"],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--seconds", type=float, default=2.0)
    a.add_argument("--rounds", type=int, default=5)
    a.add_argument("--hpsweep", default=os.path.join(REPO, "build", "cli", "hpsweep"))
    args = a.parse_args()
    print("CPU: " + cpu_line())
    print(torch_blas())
    print("hpsweep: %s (its own build flags: -O3 -march=native unless packaged)" % args.hpsweep)
    print("rounds: %d of %g s each, round-robin; medians in samples/s\n" % (args.rounds, args.seconds))
    print("| model (batch 128) | threads | hpsweep | PyTorch, best setting | hpsweep / PyTorch | "
          "PyTorch settings tried |")
    print("|---|---:|---:|---:|---:|---|")
    results = []
    for name, flags, cell, units, dense in MODELS:
        for threads in (1, 2):
            procs = [(label, start_torch(cell, units, dense, t, b))
                     for label, t, b in TORCH_SETTINGS[threads]]
            ours, theirs = [], {label: [] for label, _ in procs}
            for _ in range(args.rounds):
                ours.append(hpsweep_round(args.hpsweep, flags, threads, args.seconds))
                for label, p in procs:
                    theirs[label].append(torch_round(p, args.seconds))
            for _, p in procs:
                p.stdin.close()
                p.wait()
            ours_m = statistics.median(ours)
            medians = {label: statistics.median(v) for label, v in theirs.items()}
            best = max(medians, key=medians.get)
            tried = "; ".join("%s: %.0f" % (k, v) for k, v in medians.items())
            print("| %s | %d | %.0f | %.0f (%s) | %.2fx | %s |" % (
                name, threads, ours_m, medians[best], best, ours_m / medians[best], tried),
                flush=True)
            results.append({"model": name, "threads": threads, "hpsweep": ours_m,
                            "pytorch": medians})
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
