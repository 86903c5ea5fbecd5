#include "engine/early_stopping.h"

#include <cmath>

namespace hpsweep {

namespace {

double Score(double v, bool maximize) {
  if (std::isnan(v)) return -std::numeric_limits<double>::infinity();
  return maximize ? v : -v;
}

}  // namespace

bool Improves(double value, double best, bool maximize, double min_delta) {
  if (std::isnan(value)) return false;
  return Score(value, maximize) - min_delta > Score(best, maximize);
}

bool EarlyStoppingEnd(int epoch, double value, bool maximize, double min_delta, int patience,
                      EarlyStoppingState* state) {
  state->wait += 1;
  if (Improves(value, state->best, maximize, min_delta)) {
    state->best = value;
    state->wait = 0;
    return false;
  }
  return state->wait >= patience && epoch > 1;
}

bool KeepsEpoch(int epoch, double value, bool maximize, double min_delta, KeptWeights* kept) {
  const bool better = Improves(value, kept->value, maximize, min_delta);
  if (kept->epoch != 0 && !better) return false;
  // Keras keeps the first epoch's weights even when its value does not improve (NaN); the kept
  // value stays "none" then, so that any later number improves on it.
  if (better) kept->value = value;
  kept->epoch = epoch;
  return true;
}

}  // namespace hpsweep
