// MNIST loader: the four IDX files of a data folder as training and test sets held as bytes.
//
// Works for any IDX data set laid out like MNIST (a user's own, gzipped or not): images of any
// size, as long as the training and test images agree, and labels 0..9 (LoadIdxFolder: any
// number of classes).
//
// Thread-safety: LoadMnist shares no state; call it from any thread. Results are plain values
// owned by the caller.
#ifndef HPSWEEP_ENGINE_MNIST_H_
#define HPSWEEP_ENGINE_MNIST_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

// An IDX byte's value as a model input: static_cast<float>(byte) * kPixelScale, in [0,1].
inline constexpr float kPixelScale = 1.0f / 255.0f;

// Where a data set's samples lie, as the trainer reads them: floats, or bytes that become
// byte * kPixelScale as they are read. A const float* converts to it, so any float array serves.
struct Samples {
  Samples(const float* f) : floats(f) {}  // NOLINT: implicit on purpose
  static Samples Bytes(const uint8_t* b) {
    Samples s(nullptr);
    s.bytes = b;
    return s;
  }
  // The samples from value offset on.
  Samples At(int64_t offset) const {
    Samples s = *this;
    if (bytes != nullptr) {
      s.bytes += offset;
    } else {
      s.floats += offset;
    }
    return s;
  }
  // Values [offset, offset + n) of the samples, as floats, into out[0, n).
  void Copy(int64_t offset, int64_t n, float* out) const {
    if (bytes != nullptr) {
      const uint8_t* src = bytes + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]) * kPixelScale;
    } else {
      std::copy_n(floats + offset, n, out);
    }
  }
  const float* floats = nullptr;
  const uint8_t* bytes = nullptr;
};

// A labelled set of count samples of rows x cols values, row-major. IDX and MNIST sets hold their
// bytes (pixels, one a value; the value is byte * kPixelScale, in [0,1]); a CSV set holds its
// floats as given (images). The other vector is empty. Read values through samples(), Sample()
// or Floats(), which serve both.
struct Dataset {
  int64_t count = 0;
  int rows = 28, cols = 28;
  std::vector<float> images;    // (count, rows, cols) floats, or empty when pixels holds the set
  std::vector<uint8_t> pixels;  // (count, rows, cols) bytes, or empty when images holds the set
  std::vector<uint8_t> labels;  // (count), each < num_classes; empty for regression targets
  int num_classes = 10;
  // A CSV set read for task: regression (engine/dataset.h, DataSpec::targets): (count,
  // num_targets) real-valued targets, row-major; num_targets 0 (and targets empty) otherwise.
  std::vector<float> targets;
  int num_targets = 0;
  // CSV labels given as names: class i's name, sorted by name (engine/dataset.h); empty when the
  // labels are numbers (IDX, MNIST, a CSV of integer labels).
  std::vector<std::string> class_names;

  Samples samples() const {
    return pixels.empty() ? Samples(images.data()) : Samples::Bytes(pixels.data());
  }
  // Sample i's rows*cols values as floats into out.
  void Sample(int64_t i, float* out) const {
    const int64_t px = static_cast<int64_t>(rows) * cols;
    samples().Copy(i * px, px, out);
  }
  // All count*rows*cols values as floats: a copy for readers that want the whole set at once.
  std::vector<float> Floats() const {
    if (pixels.empty()) return images;
    std::vector<float> out(pixels.size());
    samples().Copy(0, static_cast<int64_t>(pixels.size()), out.data());
    return out;
  }
};

struct Mnist {
  Dataset train, test;
};

// Loads train-images-idx3-ubyte / train-labels-idx1-ubyte / t10k-images-idx3-ubyte /
// t10k-labels-idx1-ubyte from dir, each either plain or with a .gz suffix (the dot variant
// "train-images.idx3-ubyte" is accepted too). train_limit > 0 keeps only the first train_limit
// training images; 0 (or less) keeps them all.
// Errors: NotFound for a missing folder or file (with a hint to run scripts/bootstrap.sh or pass
// --data-dir); InvalidArgument for a dir that is not a folder, image/label count mismatches,
// labels >= 10, or training and test images of different sizes; anything
// ReadIdxImages/ReadIdxLabels reports (engine/idx.h).
StatusOr<Mnist> LoadMnist(const std::string& dir, int64_t train_limit = 0);

// The same for any IDX folder of that layout (a user's own data): labels must be below
// max_classes, and num_classes of both sets is the largest label of either + 1.
StatusOr<Mnist> LoadIdxFolder(const std::string& dir, int64_t train_limit, int max_classes);

// The four files LoadIdxFolder reads from dir (train images, train labels, test images, test
// labels), as found (plain, .gz or dotted). NotFound naming the first one missing.
StatusOr<std::vector<std::string>> IdxFolderFiles(const std::string& dir);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_MNIST_H_
