// MNIST loader: the four IDX files of a data folder as float32 training and test sets.
//
// Works for any IDX data set laid out like MNIST (a user's own, gzipped or not): images of any
// size, as long as the training and test images agree, and labels 0..9 (LoadIdxFolder: any
// number of classes).
//
// Thread-safety: LoadMnist shares no state; call it from any thread. Results are plain values
// owned by the caller.
#ifndef HPSWEEP_ENGINE_MNIST_H_
#define HPSWEEP_ENGINE_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

// A labelled image set, pixels scaled to [0,1] float32 (byte / 255).
struct Dataset {
  int64_t count = 0;
  int rows = 28, cols = 28;
  std::vector<float> images;    // (count, rows, cols), row-major: count*rows*cols floats
  std::vector<uint8_t> labels;  // (count), each < num_classes
  int num_classes = 10;
  // CSV labels given as names: class i's name, sorted by name (engine/dataset.h); empty when the
  // labels are numbers (IDX, MNIST, a CSV of integer labels).
  std::vector<std::string> class_names;
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
