#!/usr/bin/python3
"""The same training step in PyTorch, for comparison with `hpsweep bench`.

LSTM-128 (28 steps of 28 pixels) -> Dense 64 (tanh) -> Dense 10, sparse cross-entropy, Adam,
batch 128, random data of MNIST's shape. Prints the median samples/s of timed rounds with 1 and 2
threads. Needs Debian's python3-torch (1.13): apt-get install python3-torch.

    /usr/bin/python3 bench/pytorch_lstm.py [--seconds S] [--rounds R]
"""
import argparse
import statistics
import time

import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(28, 128, batch_first=True)
        self.dense = torch.nn.Linear(128, 64)
        self.out = torch.nn.Linear(64, 10)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(torch.tanh(self.dense(h[:, -1, :])))


def bench(threads, seconds, rounds, batch=128):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(4096, 28, 28)
    y = torch.randint(0, 10, (4096,))
    step = 0

    def one_step():
        nonlocal step
        lo = (step * batch) % (4096 - batch)
        step += 1
        opt.zero_grad()
        loss = loss_fn(net(x[lo:lo + batch]), y[lo:lo + batch])
        loss.backward()
        opt.step()

    for _ in range(3):
        one_step()
    rates = []
    for _ in range(rounds):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            one_step()
            n += 1
        rates.append(n * batch / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    print(f"pytorch {torch.__version__}, LSTM-128 + Dense 64, batch 128")
    for threads in (1, 2):
        print(f"threads {threads}: {bench(threads, a.seconds, a.rounds):.0f} samples/s")


if __name__ == "__main__":
    main()
