#include "engine/loss.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace hpsweep {

template <typename T>
void Softmax(const Mat<T>& logits, Mat<T>* probs) {
  probs->resize(logits.rows(), logits.cols());
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    auto p = probs->row(r);
    p.array() = (logits.row(r).array() - logits.row(r).maxCoeff()).exp();
    p /= p.sum();
  }
}

template <typename T>
LossResult SoftmaxCrossEntropy(const Mat<T>& logits, const uint8_t* labels, const Mat<T>* targets,
                               bool clip, T scale, Mat<T>* dlogits) {
  assert((labels == nullptr) != (targets == nullptr));
  const Eigen::Index B = logits.rows(), C = logits.cols();
  if (dlogits) dlogits->resize(B, C);
  LossResult res;
  RowVec<T> p(C);
  for (Eigen::Index r = 0; r < B; ++r) {
    auto z = logits.row(r);
    const T zmax = z.maxCoeff();
    p.array() = (z.array() - zmax).exp();
    const T sum = p.sum();
    const double log_sum = std::log(static_cast<double>(sum)) + zmax;  // logsumexp(z)
    p /= sum;
    Eigen::Index pred;
    z.maxCoeff(&pred);
    double loss = 0;
    if (labels) {
      const int y = labels[r];
      if (clip) {
        double py = std::clamp(static_cast<double>(p[y]), 1e-7, 1.0 - 1e-7);
        loss = -std::log(py);
      } else {
        loss = log_sum - z[y];
      }
      if (pred == y) ++res.correct;
      if (dlogits) {
        dlogits->row(r) = p * scale;
        (*dlogits)(r, y) -= scale;
      }
    } else {
      auto y = targets->row(r);
      for (Eigen::Index c = 0; c < C; ++c) {
        if (y[c] == 0) continue;
        if (clip) {
          loss -= y[c] * std::log(std::clamp(static_cast<double>(p[c]), 1e-7, 1.0 - 1e-7));
        } else {
          loss -= y[c] * (static_cast<double>(z[c]) - log_sum);
        }
      }
      Eigen::Index want;
      y.maxCoeff(&want);
      if (pred == want) ++res.correct;
      if (dlogits) dlogits->row(r) = (p - y) * scale;
    }
    res.loss_sum += loss;
  }
  return res;
}

template <typename T>
LossResult RegressionLoss(const Mat<T>& pred, const Mat<T>& targets, Loss loss, double delta,
                          T scale, Mat<T>* dpred) {
  assert(pred.rows() == targets.rows() && pred.cols() == targets.cols());
  assert(loss == Loss::kMse || loss == Loss::kMae || loss == Loss::kHuber);
  const Eigen::Index B = pred.rows(), K = pred.cols();
  if (dpred) dpred->resize(B, K);
  LossResult res;
  const double per = 1.0 / static_cast<double>(K);
  const T g = scale / static_cast<T>(K);
  for (Eigen::Index r = 0; r < B; ++r) {
    double sq = 0, ab = 0, l = 0;
    for (Eigen::Index k = 0; k < K; ++k) {
      const double e = static_cast<double>(pred(r, k)) - static_cast<double>(targets(r, k));
      const double a = std::fabs(e);
      const double sign = e > 0 ? 1.0 : (e < 0 ? -1.0 : 0.0);
      sq += e * e;
      ab += a;
      double d = 0;
      switch (loss) {
        case Loss::kMae:
          l += a;
          d = sign;
          break;
        case Loss::kHuber:
          l += a <= delta ? 0.5 * e * e : delta * (a - 0.5 * delta);
          d = a <= delta ? e : delta * sign;
          break;
        default:  // kMse
          l += e * e;
          d = 2 * e;
          break;
      }
      if (dpred) (*dpred)(r, k) = g * static_cast<T>(d);
    }
    res.loss_sum += l * per;
    res.sq_sum += sq * per;
    res.abs_sum += ab * per;
  }
  return res;
}

template LossResult RegressionLoss<float>(const Mat<float>&, const Mat<float>&, Loss, double,
                                          float, Mat<float>*);
template LossResult RegressionLoss<double>(const Mat<double>&, const Mat<double>&, Loss, double,
                                           double, Mat<double>*);
template LossResult SoftmaxCrossEntropy<float>(const Mat<float>&, const uint8_t*, const Mat<float>*,
                                               bool, float, Mat<float>*);
template LossResult SoftmaxCrossEntropy<double>(const Mat<double>&, const uint8_t*,
                                                const Mat<double>*, bool, double, Mat<double>*);
template void Softmax<float>(const Mat<float>&, Mat<float>*);
template void Softmax<double>(const Mat<double>&, Mat<double>*);

}  // namespace hpsweep
