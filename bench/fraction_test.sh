#!/bin/sh
# FractionBench.PrintsEveryModel: runs bench/fraction.sh once, briefly, with the build in $1;
# passes when it exits 0 and prints a row with FLOP, a rate and a fraction for each of the five
# models, and the reference rate it measured.
out=$(HPSWEEP_BUILD_DIR="$1" bash "$(dirname "$0")/fraction.sh" --rounds 1 --seconds 0.2)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
  echo "FAIL: exit status $rc"
  exit 1
fi
rows=$(printf '%s\n' "$out" | grep -cE '^\| (lstm128|gru128|rnn128|lstm32|mlp) \| [0-9.]+ \| [0-9.]*[1-9][0-9.]* \| [0-9]+% \| [0-9]+-[0-9]+% \|$')
if [ "$rows" -ne 5 ]; then
  echo "FAIL: $rows of 5 model rows"
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq '^reference: .* median [0-9.]*[1-9][0-9.]* GF/s'; then
  echo "FAIL: no reference rate"
  exit 1
fi
