#include "engine/mnist.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "engine/idx.h"

namespace hpsweep {
namespace {

constexpr int kNumClasses = 10;

const char kFetchHint[] =
    "run scripts/bootstrap.sh to fetch MNIST, or pass --data-dir (or set HPSWEEP_DATA_DIR)";

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Finds a file in dir under its canonical name ("train-images-idx3-ubyte"), that with ".gz",
// the dotted name ("train-images.idx3-ubyte"), or that with ".gz"; the first found wins.
StatusOr<std::string> FindFile(const std::string& dir, const std::string& canonical,
                               const std::string& dotted) {
  const std::string base = dir + "/";
  for (const std::string& name : {canonical, canonical + ".gz", dotted, dotted + ".gz"}) {
    if (Exists(base + name)) return base + name;
  }
  return NotFound(base + canonical + ": no such file (nor " + canonical + ".gz, " + dotted +
                  "[.gz]); " + kFetchHint);
}

// Loads one images/labels pair; `split` is "train" or "t10k".
StatusOr<Dataset> LoadSplit(const std::string& dir, const std::string& split, int64_t limit,
                            int max_classes) {
  StatusOr<std::string> images_path =
      FindFile(dir, split + "-images-idx3-ubyte", split + "-images.idx3-ubyte");
  if (!images_path.ok()) return images_path.status();
  StatusOr<std::string> labels_path =
      FindFile(dir, split + "-labels-idx1-ubyte", split + "-labels.idx1-ubyte");
  if (!labels_path.ok()) return labels_path.status();

  StatusOr<IdxImages> images = ReadIdxImages(*images_path);
  if (!images.ok()) return images.status();
  StatusOr<std::vector<uint8_t>> labels = ReadIdxLabels(*labels_path);
  if (!labels.ok()) return labels.status();

  if (static_cast<int64_t>(labels->size()) != images->count) {
    return InvalidArgument(*images_path + " holds " + std::to_string(images->count) +
                           " images but " + *labels_path + " holds " +
                           std::to_string(labels->size()) +
                           " labels; they must match (are both from the same data set?)");
  }
  int top = 0;
  for (size_t i = 0; i < labels->size(); ++i) {
    if ((*labels)[i] >= max_classes) {
      return InvalidArgument(*labels_path + ": label " + std::to_string(i) + " is " +
                             std::to_string((*labels)[i]) + "; labels must be 0.." +
                             std::to_string(max_classes - 1));
    }
    top = std::max<int>(top, (*labels)[i]);
  }

  Dataset ds;
  ds.count = images->count;
  if (limit > 0 && limit < ds.count) ds.count = limit;
  ds.rows = images->rows;
  ds.cols = images->cols;
  ds.num_classes = top + 1;
  const size_t n = static_cast<size_t>(ds.count) * ds.rows * ds.cols;
  ds.pixels = std::move(images->pixels);  // one byte a pixel; read as byte * kPixelScale
  ds.pixels.resize(n);
  ds.pixels.shrink_to_fit();
  ds.labels = std::move(*labels);
  ds.labels.resize(static_cast<size_t>(ds.count));
  return ds;
}

}  // namespace

StatusOr<Mnist> LoadMnist(const std::string& dir, int64_t train_limit) {
  StatusOr<Mnist> m = LoadIdxFolder(dir, train_limit, kNumClasses);
  if (!m.ok() && m.status().code() == StatusCode::kDataLoss) {
    // The IDX reader says only that the file is truncated or corrupt (it serves a user's own data
    // too); MNIST can be fetched again.
    return DataLoss(
        m.status().message() +
        " (scripts/bootstrap.sh re-fetches MNIST into data/mnist: delete the file first)");
  }
  if (!m.ok()) return m.status();
  // MNIST has 10 classes even where a cut (train_limit) lacks some.
  m->train.num_classes = m->test.num_classes = kNumClasses;
  return m;
}

StatusOr<std::vector<std::string>> IdxFolderFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const char* split : {"train", "t10k"}) {
    for (const char* kind : {"images-idx3", "labels-idx1"}) {
      const std::string s = split, k = kind;
      const std::string dotted = s + "-" + k.substr(0, 6) + "." + k.substr(7) + "-ubyte";
      StatusOr<std::string> f = FindFile(dir, s + "-" + k + "-ubyte", dotted);
      if (!f.ok()) return f.status();
      files.push_back(*f);
    }
  }
  return files;
}

StatusOr<Mnist> LoadIdxFolder(const std::string& dir, int64_t train_limit, int max_classes) {
  if (!IsDirectory(dir)) {
    if (Exists(dir)) {
      return InvalidArgument(dir + ": not a folder; pass the folder that holds the IDX files (" +
                             kFetchHint + ")");
    }
    return NotFound(dir + ": no such data folder; " + kFetchHint);
  }
  StatusOr<Dataset> train = LoadSplit(dir, "train", train_limit, max_classes);
  if (!train.ok()) return train.status();
  StatusOr<Dataset> test = LoadSplit(dir, "t10k", 0, max_classes);
  if (!test.ok()) return test.status();
  if (train->rows != test->rows || train->cols != test->cols) {
    return InvalidArgument(dir + ": training images are " + std::to_string(train->rows) + "x" +
                           std::to_string(train->cols) + " but test images are " +
                           std::to_string(test->rows) + "x" + std::to_string(test->cols) +
                           "; both sets must have the same image size");
  }
  Mnist mnist;
  train->num_classes = test->num_classes = std::max(train->num_classes, test->num_classes);
  mnist.train = std::move(*train);
  mnist.test = std::move(*test);
  return mnist;
}

}  // namespace hpsweep
