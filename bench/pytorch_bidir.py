#!/usr/bin/python3
"""Bidirectional LSTM-128: PyTorch against `hpsweep bench`, in one sitting, on the same cores.

The model: Bidirectional(LSTM(128)) on 28 steps of 28 pixels (Keras: the forward direction's last
state and the backward direction's state after reading the whole sequence reversed, concatenated:
256) -> Dense 10, sparse cross-entropy, Adam, batch 128, random data of MNIST's shape. PyTorch:
nn.LSTM(28, 128, bidirectional=True, batch_first=True), its h_n's two directions concatenated, then
nn.Linear(256, 10). hpsweep: `hpsweep bench --cell lstm --units 128 --bidirectional true`.

The two take turns, one timed round each (PyTorch in this process, hpsweep as a child process
that runs one round after its own warm-up), so that a shared machine's load falls on both alike;
each figure is the median of its rounds, in samples/s. PyTorch's threads: `--threads` OpenBLAS
threads and one torch thread (docs/benchmarks.md: the best setting on 2 cores); the environment
variable is set before torch is imported. Needs Debian's python3-torch (1.13).

    /usr/bin/python3 bench/pytorch_bidir.py --threads T [--seconds S] [--rounds R] [--bin PATH]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=7)
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--bin", default=os.path.join(here, "..", "build", "cli", "hpsweep"))
    return p.parse_args()


ARGS = parse()
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
import torch  # noqa: E402  (after OPENBLAS_NUM_THREADS)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(28, 128, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(256, 10)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)  # h_n: (2, B, 128), forward's last then backward's last
        return self.out(torch.cat([h_n[0], h_n[1]], dim=1))


class TorchBench:
    def __init__(self, batch=128):
        torch.set_num_threads(1)
        torch.manual_seed(0)
        self.batch = batch
        self.net = Net()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, eps=1e-7)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.x = torch.rand(4096, 28, 28)
        self.y = torch.randint(0, 10, (4096,))
        self.step = 0
        for _ in range(3):
            self.one_step()

    def one_step(self):
        lo = (self.step * self.batch) % (4096 - self.batch)
        self.step += 1
        self.opt.zero_grad()
        loss = self.loss_fn(self.net(self.x[lo:lo + self.batch]), self.y[lo:lo + self.batch])
        loss.backward()
        self.opt.step()

    def round(self, seconds):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            self.one_step()
            n += 1
        return n * self.batch / (time.perf_counter() - t0)


def hpsweep_round(binary, threads, seconds):
    out = subprocess.run(
        [binary, "bench", "--cell", "lstm", "--units", "128", "--bidirectional", "true",
         "--batch-size", "128", "--threads", str(threads), "--seconds", str(seconds),
         "--rounds", "1"], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    torch_bench = TorchBench()
    params = sum(p.numel() for p in torch_bench.net.parameters())
    print(f"pytorch {torch.__version__}, Bidirectional LSTM-128 + Dense 10 ({params} parameters), "
          f"batch 128, {ARGS.threads} thread(s), {ARGS.rounds} rounds of {ARGS.seconds} s")
    torch_rates, ours = [], []
    for r in range(ARGS.rounds):
        torch_rates.append(torch_bench.round(ARGS.seconds))
        ours.append(hpsweep_round(ARGS.bin, ARGS.threads, ARGS.seconds))
        print(f"round {r + 1}: pytorch {torch_rates[-1]:.0f}, hpsweep {ours[-1]:.0f} samples/s",
              flush=True)
    t, h = statistics.median(torch_rates), statistics.median(ours)
    print(f"median samples/s: pytorch {t:.0f}, hpsweep {h:.0f}, hpsweep / pytorch {h / t:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
