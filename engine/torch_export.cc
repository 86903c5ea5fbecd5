#include "engine/torch_export.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "engine/network.h"

namespace hpsweep {
namespace {

bool DenseActivationOk(Activation a) {
  return a == Activation::kLinear || a == Activation::kRelu || a == Activation::kTanh ||
         a == Activation::kSigmoid;
}

std::string Errno() { return std::strerror(errno); }

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, so that a failed close (a full disk on NFS) is seen.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// dir without trailing slashes ("out/" -> "out"), so that lstat sees a link at the path rather
// than the folder it points to.
std::string StripSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// Opens dir, made if missing; refuses a link, a non-folder and a folder with entries.
StatusOr<int> OpenEmptyFolder(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("-o: give a folder to write the model to");
  struct stat st;
  if (::lstat(dir.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      return InvalidArgument(dir +
                             ": is a symbolic link; give a new folder (nothing is written "
                             "through links)");
    }
    if (!S_ISDIR(st.st_mode)) return InvalidArgument(dir + ": exists and is not a folder");
  } else if (errno == ENOENT) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
      return IoError(dir + ": cannot make the folder: " + Errno());
    }
  } else {
    return IoError(dir + ": " + Errno());
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return IoError(dir + ": cannot open the folder: " + Errno());
  const int listing = ::dup(fd);
  DIR* d = listing >= 0 ? ::fdopendir(listing) : nullptr;
  if (d == nullptr) {
    if (listing >= 0) ::close(listing);
    ::close(fd);
    return IoError(dir + ": cannot list the folder: " + Errno());
  }
  bool empty = true;
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  if (!empty) {
    ::close(fd);
    return InvalidArgument(dir + ": the folder is not empty; give a new or empty folder");
  }
  return fd;
}

// Creates name inside the folder dirfd (never an existing file, never through a link).
Status WriteNew(int dirfd, const std::string& dir, const std::string& name,
                const std::string& bytes) {
  const std::string path = dir + "/" + name;
  Fd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd.get() < 0) return IoError(path + ": cannot create: " + Errno());
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(path + ": write failed: " + Errno());
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return IoError(path + ": fsync failed: " + Errno());
  if (!fd.Close()) return IoError(path + ": close failed: " + Errno());
  return Status();
}

// The tensor's values as little-endian float32 bytes, whatever the host's byte order.
std::string LittleEndianFloats(const float* p, int64_t n) {
  std::string out(static_cast<size_t>(n) * 4, '\0');
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, p + i, 4);
    for (int b = 0; b < 4; ++b)
      out[static_cast<size_t>(i) * 4 + b] = static_cast<char>(u >> (8 * b));
  }
  return out;
}

std::string FileName(size_t index, const std::string& tensor) {
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%03zu-", index);
  return prefix + tensor + ".f32";
}

}  // namespace

Status CheckTorchExportable(const ModelConfig& m) {
  if (m.task == Task::kRegression) {
    // python/hpsweep/torch.py's forward is a softmax over classes: it would turn predicted
    // values into probabilities.
    return InvalidArgument("task=regression: the PyTorch export is for classification models "
                           "(its module's forward is a softmax); use hpsweep predict --csv");
  }
  switch (m.cell) {
    case Cell::kLstm:
    case Cell::kGru:
      if (m.activation != Activation::kTanh) {
        return InvalidArgument(std::string("activation=") + ActivationName(m.activation) +
                               ": torch.nn." + (m.cell == Cell::kLstm ? "LSTM" : "GRU") +
                               " computes tanh only; export a model trained with activation=tanh");
      }
      break;
    case Cell::kSimpleRnn:
      if (m.activation != Activation::kTanh && m.activation != Activation::kRelu) {
        return InvalidArgument(std::string("activation=") + ActivationName(m.activation) +
                               ": torch.nn.RNN computes tanh or relu only");
      }
      break;
    case Cell::kDense:
      if (!DenseActivationOk(m.activation)) {
        return InvalidArgument(std::string("activation=") + ActivationName(m.activation) +
                               ": not exportable for a hidden Dense layer");
      }
      break;
  }
  if (!m.dense.empty() && !DenseActivationOk(m.dense_activation)) {
    return InvalidArgument(std::string("dense_activation=") + ActivationName(m.dense_activation) +
                           ": not exportable for a hidden Dense layer");
  }
  return Status();
}

std::vector<TorchTensor> TorchTensors(const ModelConfig& m) {
  std::vector<TorchTensor> out;
  int64_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    TorchTensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.size = 1;
    for (int64_t d : t.shape) t.size *= d;
    t.offset = offset;
    offset += t.size;
    out.push_back(std::move(t));
  };
  const int64_t H = m.units;
  int64_t f = m.cell == Cell::kDense ? int64_t{m.steps} * m.features : m.features;
  for (int l = 0; l < m.layers; ++l) {
    const std::string n = std::to_string(l);
    if (m.cell == Cell::kDense) {
      add("hidden." + n + ".kernel", {f, H});
      add("hidden." + n + ".bias", {H});
      f = H;
      continue;
    }
    const int64_t k = m.cell == Cell::kLstm ? 4 : m.cell == Cell::kGru ? 3 : 1;
    const int dirs = m.bidirectional ? 2 : 1;
    for (int d = 0; d < dirs; ++d) {  // Keras's order: forward's three tensors, then backward's
      const std::string p = "recurrent." + n + (d == 0 ? ".forward." : ".backward.");
      add(p + "kernel", {f, k * H});
      add(p + "recurrent_kernel", {H, k * H});
      if (m.cell == Cell::kGru) {
        add(p + "bias", {2, k * H});
      } else {
        add(p + "bias", {k * H});
      }
    }
    f = dirs * H;
  }
  for (size_t i = 0; i < m.dense.size(); ++i) {
    add("dense." + std::to_string(i) + ".kernel", {f, m.dense[i]});
    add("dense." + std::to_string(i) + ".bias", {m.dense[i]});
    f = m.dense[i];
  }
  add("output.kernel", {f, m.classes});
  add("output.bias", {m.classes});
  return out;
}

std::string TorchModelJson(const ModelConfig& m) {
  // Every string here is from a fixed vocabulary (names of cells, activations, tensors): no
  // escaping is needed.
  std::ostringstream os;
  os << "{\n";
  os << "  \"format\": \"hpsweep-torch\",\n  \"version\": 1,\n";
  os << "  \"cell\": \"" << CellName(m.cell) << "\",\n";
  os << "  \"units\": " << m.units << ",\n";
  os << "  \"layers\": " << m.layers << ",\n";
  os << "  \"activation\": \"" << ActivationName(m.activation) << "\",\n";
  os << "  \"bidirectional\": " << (m.bidirectional && m.cell != Cell::kDense ? "true" : "false")
     << ",\n";
  os << "  \"dense\": [";
  for (size_t i = 0; i < m.dense.size(); ++i) os << (i ? ", " : "") << m.dense[i];
  os << "],\n";
  os << "  \"dense_activation\": \"" << ActivationName(m.dense_activation) << "\",\n";
  os << "  \"logits\": " << (m.logits ? "true" : "false") << ",\n";
  os << "  \"steps\": " << m.steps << ",\n";
  os << "  \"features\": " << m.features << ",\n";
  os << "  \"classes\": " << m.classes << ",\n";
  os << "  \"tensors\": [\n";
  const std::vector<TorchTensor> tensors = TorchTensors(m);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TorchTensor& t = tensors[i];
    os << "    {\"name\": \"" << t.name << "\", \"file\": \"" << FileName(i, t.name)
       << "\", \"dtype\": \"float32-le\", \"shape\": [";
    for (size_t d = 0; d < t.shape.size(); ++d) os << (d ? ", " : "") << t.shape[d];
    os << "]}" << (i + 1 < tensors.size() ? "," : "") << "\n";
  }
  os << "  ]\n}\n";
  return os.str();
}

Status ExportTorch(const Model& model, const std::string& dir_arg) {
  const ModelConfig& m = model.config.model;
  Status s = CheckTorchExportable(m);
  if (!s.ok()) return s;
  const std::vector<TorchTensor> tensors = TorchTensors(m);
  const std::vector<int64_t> sizes = WeightTensorSizes(m);
  int64_t total = 0;
  bool same = tensors.size() == sizes.size();
  for (size_t i = 0; same && i < tensors.size(); ++i) {
    same = tensors[i].size == sizes[i];
    total += tensors[i].size;
  }
  if (!same || total != static_cast<int64_t>(model.params.size())) {
    return InvalidArgument("the model has " + std::to_string(model.params.size()) +
                           " parameters, but its configuration needs " + std::to_string(total));
  }
  const std::string dir = StripSlashes(dir_arg);
  StatusOr<int> dirfd = OpenEmptyFolder(dir);
  if (!dirfd.ok()) return dirfd.status();
  Fd fd(*dirfd);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TorchTensor& t = tensors[i];
    s = WriteNew(fd.get(), dir, FileName(i, t.name),
                 LittleEndianFloats(model.params.data() + t.offset, t.size));
    if (!s.ok()) return s;
  }
  return WriteNew(fd.get(), dir, "model.json", TorchModelJson(m));
}

}  // namespace hpsweep
