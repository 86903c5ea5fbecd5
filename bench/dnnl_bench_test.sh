#!/bin/sh
# DnnlBench.RunsEveryConfigurationOnce: runs hpsweep_dnnl_bench (path in $1) briefly on LSTM-32
# with 1 thread; passes when it exits 0 (its gradient checks passed) and prints the f32 table row.
out=$("$1" --quick --models lstm32 --threads 1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
  echo "FAIL: exit status $rc"
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq '^\| lstm32 \| f32 \| [0-9]+ \|'; then
  echo "FAIL: no table row for lstm32 f32"
  exit 1
fi
