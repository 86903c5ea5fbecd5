#include "engine/dataset.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <utility>

#include "base/file_io.h"
#include "base/sha256.h"
#include "base/utf8.h"
#include "engine/idx.h"

namespace hpsweep {
namespace {

std::string At(const std::string& name, int64_t line) {
  return name + ":" + std::to_string(line) + ": ";
}

// A field as a finite float; false for anything else ("", "1x", "nan", "inf").
bool ParseFloatField(const std::string& field, float* out) {
  if (field.empty() || field.size() > 64) return false;
  const char* begin = field.c_str();
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(begin, &end);
  if (end != begin + field.size() || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

std::string Shown(const std::string& field) {
  std::string s = field.substr(0, 32);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return "'" + s + (field.size() > 32 ? "...'" : "'");
}

// Reads CSV text line by line, from bytes in memory or from an open file in pieces of
// kCsvReadChunkBytes: Next gives the next line that is not blank (its CR stripped) and its number
// in the file (header and blank lines counted); false at the end. The line being read is the only
// text held: a line over kCsvMaxLineBytes is refused as soon as it is longer, before it is copied
// whole. A NUL byte is InvalidArgument naming file:line. From a file, more than kCsvMaxBytes in
// all (a file growing as it is read) is InvalidArgument; a failed read is IoError.
// Not thread-safe; the bytes, name and descriptor are borrowed and must outlive it.
class CsvLines {
 public:
  CsvLines(const std::string& bytes, const std::string& name)
      : name_(name), data_(bytes.data()), size_(bytes.size()) {}
  CsvLines(int fd, const std::string& name) : name_(name), fd_(fd), buf_(kCsvReadChunkBytes) {}

  StatusOr<bool> Next(std::string* line) {
    for (;;) {
      line->clear();
      bool any = false;  // a line has begun (an unterminated last line counts)
      for (;;) {
        if (pos_ == size_) {
          StatusOr<bool> more = Fill();
          if (!more.ok()) return more.status();
          if (!*more) break;
        }
        const char* begin = data_ + pos_;
        const char* nl = static_cast<const char*>(std::memchr(begin, '\n', size_ - pos_));
        const size_t n = nl == nullptr ? size_ - pos_ : static_cast<size_t>(nl - begin);
        // (+ 1: a CR that the line end strips.)
        if (static_cast<int64_t>(line->size() + n) > kCsvMaxLineBytes + 1) {
          return TooLong(line_no_ + 1);
        }
        line->append(begin, n);
        any = true;
        pos_ += n;
        if (nl != nullptr) {
          ++pos_;
          break;
        }
      }
      if (!any) return false;
      ++line_no_;
      if (!line->empty() && line->back() == '\r') line->pop_back();
      if (static_cast<int64_t>(line->size()) > kCsvMaxLineBytes) return TooLong(line_no_);
      if (line->find_first_not_of(" \t") == std::string::npos) continue;
      if (line->find('\0') != std::string::npos) {
        return InvalidArgument(At(name_, line_no_) + "a NUL byte: not a text file");
      }
      return true;
    }
  }
  int64_t line_no() const { return line_no_; }
  // Calls row(line, its number) for each line with text, in order; stops at the first error.
  Status ForEach(const std::function<Status(const std::string&, int64_t)>& row) {
    std::string line;
    for (;;) {
      StatusOr<bool> more = Next(&line);
      if (!more.ok()) return more.status();
      if (!*more) return Status::Ok();
      HPSWEEP_RETURN_IF_ERROR(row(line, line_no_));
    }
  }

 private:
  Status TooLong(int64_t line_no) const {
    return InvalidArgument(At(name_, line_no) + "line over the limit of " +
                           std::to_string(kCsvMaxLineBytes) + " bytes");
  }
  // The next piece of the file into buf_; false at its end (and always, for bytes in memory).
  StatusOr<bool> Fill() {
    if (fd_ < 0) return false;
    for (;;) {
      const ssize_t n = ::read(fd_, buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError(name_ + ": cannot read data file: " + std::strerror(errno));
      if (n == 0) return false;
      total_ += n;
      if (total_ > kCsvMaxBytes) {
        return InvalidArgument(name_ + ": data file is over the limit of " +
                               std::to_string(kCsvMaxBytes) + " bytes");
      }
      data_ = buf_.data();
      size_ = static_cast<size_t>(n);
      pos_ = 0;
      return true;
    }
  }

  const std::string& name_;
  int fd_ = -1;
  std::vector<char> buf_;       // from a file: the piece read last
  const char* data_ = nullptr;  // the bytes not yet taken are data_[pos_, size_)
  size_t size_ = 0;
  size_t pos_ = 0;
  int64_t total_ = 0;  // bytes read from the file
  int64_t line_no_ = 0;
};

// A descriptor closed when this goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  const int fd_;
};

// Splits one line (no line end) at commas, trimming spaces around each field.
void SplitFields(const std::string& line, std::vector<std::string>* fields) {
  fields->clear();
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    const size_t stop = comma == std::string::npos ? line.size() : comma;
    size_t a = start, b = stop;
    while (a < b && (line[a] == ' ' || line[a] == '\t')) ++a;
    while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t')) --b;
    fields->push_back(line.substr(a, b - a));
    if (comma == std::string::npos) return;
    start = comma + 1;
  }
}

// True for the first line of a file when none of its fields is a number: column names, skipped.
// `cat,1,2` (a label name and numbers) and `7,1,2` are data.
bool IsHeader(const std::vector<std::string>& fields) {
  float v = 0;
  for (const std::string& f : fields) {
    if (ParseFloatField(f, &v)) return false;
  }
  return true;
}

// A label name as a message shows it: quoted, at most kMaxClassNameBytes bytes, anything not
// printable UTF-8 as \xNN.
std::string ShownName(const std::string& name) {
  const size_t cut = static_cast<size_t>(kMaxClassNameBytes);
  return "'" + EscapeText(name.substr(0, cut)) + (name.size() > cut ? "...'" : "'");
}

// Why `name` cannot name a class, or "" when it can: it must be 1..kMaxClassNameBytes bytes of
// printable UTF-8 (no control, tab or invisible format character) without a double quote (fields
// are never quoted, so a quote would be part of the name).
std::string BadClassName(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > static_cast<size_t>(kMaxClassNameBytes)) {
    return "is " + std::to_string(name.size()) + " bytes, over the limit of " +
           std::to_string(kMaxClassNameBytes);
  }
  if (!IsValidUtf8(name)) return "is not valid UTF-8";
  if (name.find('"') != std::string::npos) {
    return "holds a double quote (fields are not quoted: a label is the text between commas)";
  }
  for (size_t i = 0; i < name.size();) {
    const size_t n = Utf8Length(name, i);
    if (n == 0 || name[i] == '\t' || IsControlAt(name, i, n) ||
        IsInvisibleFormat(CodePointAt(name, i, n))) {
      return "holds a control or invisible character";
    }
    i += n;
  }
  return "";
}

std::string UnseenLabelAdvice() {
  return "; a model cannot learn a class its training data never shows: add examples of it to the "
         "training set or remove it from the test set";
}

// "'ant', 'bee', 'cat'": the first 8 class names, then how many more.
std::string NameList(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + ShownName(names[i]);
  if (names.size() > 8) out += " and " + std::to_string(names.size() - 8) + " more";
  return out;
}

// path opened for reading a data file from: a regular file (a FIFO is refused without blocking) of
// at most kCsvMaxBytes. The caller closes the descriptor.
StatusOr<int> OpenCsv(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return NotFound(path + ": no such file");
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + ": not a regular file");
  if (st.st_size > kCsvMaxBytes) {
    return InvalidArgument(path + ": " + std::to_string(st.st_size) + " bytes, over the limit of " +
                           std::to_string(kCsvMaxBytes));
  }
  return OpenForReading(path, "data file", /*regular_only=*/true);
}

}  // namespace

const char* DataFormatName(DataFormat f) {
  switch (f) {
    case DataFormat::kMnist: return "mnist";
    case DataFormat::kIdx: return "idx";
    case DataFormat::kCsv: return "csv";
  }
  return "?";
}

StatusOr<DataSpec> DataSpecFromParams(const std::function<std::string(const char* key)>& param) {
  DataSpec spec;
  StatusOr<DataFormat> f = ParseDataFormat(param("data.format"));
  if (!f.ok()) return f.status();
  spec.format = *f;
  spec.path = param("data.path");
  spec.train_file = param("data.train");
  spec.test_file = param("data.test");
  const std::string t = param("data.sequence_length");
  spec.sequence_length = t.empty() ? 1 : std::atoi(t.c_str());
  const std::string k = param("data.targets");
  spec.targets = k.empty() ? 0 : std::atoi(k.c_str());
  if (spec.targets < 0 || spec.targets > kMaxTargets) {
    return InvalidArgument("data.targets '" + Shown(k).substr(1, 32) + ": expected 0 to " +
                           std::to_string(kMaxTargets));
  }
  return spec;
}

StatusOr<DataFormat> ParseDataFormat(const std::string& text) {
  if (text == "mnist") return DataFormat::kMnist;
  if (text == "idx") return DataFormat::kIdx;
  if (text == "csv") return DataFormat::kCsv;
  return InvalidArgument("data format '" + Shown(text).substr(1, 32) +
                         ": expected idx, csv or mnist");
}

StatusOr<std::vector<std::string>> DataSpec::Files() const {
  if (format == DataFormat::kCsv) {
    if (train_file.empty() || test_file.empty()) {
      return InvalidArgument("a csv data set needs both a training and a test file");
    }
    return std::vector<std::string>{train_file, test_file};
  }
  return IdxFolderFiles(path);
}

namespace {

// What ParseCsvLines learns of a file besides the rows it keeps. Lines are the file's (1-based,
// header and blank lines counted): messages about a row name the line a text editor shows.
struct CsvFacts {
  // Each label some row has (names: by their class ids once the file is read).
  std::vector<bool> present = std::vector<bool>(kMaxClasses, false);
  int64_t first_line = 0;   // the first data row's
  int64_t unseen_line = 0;  // with a training file: the first row whose label it lacks (0: none)
  int unseen_label = 0;     // that row's label
};

// The labels of one CSV file: all integers in [0, kMaxClasses) or all names (a test file's of its
// training file's kind, names getting its ids); set by the training file or by the first row.
class CsvLabels {
 public:
  CsvLabels(const Dataset* train, const std::string& train_name)
      : train_(train), train_name_(train_name) {
    if (train == nullptr) return;
    kind_ = train->class_names.empty() ? Kind::kNumbers : Kind::kNames;
    kind_from_ = "the training file " + train_name + " has " +
                 (kind_ == Kind::kNames ? "label names" : "integer labels");
    for (size_t i = 0; i < train->class_names.size(); ++i) {
      ids_[train->class_names[i]] = static_cast<int>(i);
    }
  }

  // The class id of row `line_no`'s label `lab` (ids of names: in first-seen order until Finish).
  StatusOr<int> Parse(const std::string& lab, const std::string& name, int64_t line_no) {
    float lv = 0;
    const bool number = ParseFloatField(lab, &lv);
    if (kind_ == Kind::kUnknown) {
      kind_ = number ? Kind::kNumbers : Kind::kNames;
      kind_from_ = "line " + std::to_string(line_no) + "'s label " +
                   (number ? Shown(lab) + " is an integer" : ShownName(lab) + " is a name");
      // A header with a number in it (label,1,2) is data: say so where it shows.
      if (!number && line_no == 1)
        kind_from_ += ", and line 1 is data, not a header: it holds a number";
    }
    auto both = [&] {
      return " (" + kind_from_ + "; a file's labels are all integers or all names)";
    };
    if (kind_ == Kind::kNumbers) {
      if (!number) {
        return InvalidArgument(At(name, line_no) + "label " + Shown(lab) + " is not a number" +
                               both());
      }
      if (lv != std::floor(lv)) {
        return InvalidArgument(At(name, line_no) + "label " + Shown(lab) + " is not an integer");
      }
      if (lv < 0 || lv >= kMaxClasses) {
        return InvalidArgument(At(name, line_no) + "label " + Shown(lab) + " is out of range [0, " +
                               std::to_string(kMaxClasses - 1) + "]");
      }
      return static_cast<int>(lv);
    }
    if (number) {
      return InvalidArgument(At(name, line_no) + "label " + Shown(lab) + " is a number" + both());
    }
    const std::string why = BadClassName(lab);
    if (!why.empty()) {
      return InvalidArgument(At(name, line_no) + "label " + ShownName(lab) + " " + why);
    }
    auto it = ids_.find(lab);
    if (it == ids_.end()) {
      if (train_ != nullptr) {
        return InvalidArgument(At(name, line_no) + "label " + ShownName(lab) +
                               " never occurs in the training file " + train_name_ +
                               " (its classes are " + NameList(train_->class_names) + ")" +
                               UnseenLabelAdvice());
      }
      if (ids_.size() >= static_cast<size_t>(kMaxClasses)) {
        return InvalidArgument(At(name, line_no) + "label " + ShownName(lab) +
                               " is one name too many: at most " + std::to_string(kMaxClasses) +
                               " classes");
      }
      it = ids_.emplace(lab, static_cast<int>(first_seen_.size())).first;
      first_seen_.push_back(lab);
    }
    return it->second;
  }

  // With names: ds gets them, its labels (and facts->present) renumbered in name order (by
  // bytes, so that any file of these names agrees), or the training file's.
  void Finish(Dataset* ds, CsvFacts* facts) const {
    if (kind_ != Kind::kNames) return;
    if (train_ != nullptr) {
      ds->class_names = train_->class_names;
    } else {
      std::vector<uint8_t> sorted_id(first_seen_.size());
      for (auto& [label_name, id] : ids_) {
        sorted_id[static_cast<size_t>(id)] = static_cast<uint8_t>(ds->class_names.size());
        ds->class_names.push_back(label_name);
      }
      for (uint8_t& l : ds->labels) l = sorted_id[l];
      std::vector<bool> present(kMaxClasses, false);
      for (size_t id = 0; id < sorted_id.size(); ++id) present[sorted_id[id]] = facts->present[id];
      facts->present = std::move(present);
    }
    ds->num_classes = static_cast<int>(ds->class_names.size());
  }

 private:
  enum class Kind { kUnknown, kNumbers, kNames };
  const Dataset* train_;
  const std::string& train_name_;
  Kind kind_ = Kind::kUnknown;
  std::string kind_from_;           // for messages: where the kind was set
  std::map<std::string, int> ids_;  // names: the class id of each (first seen order until sorted)
  std::vector<std::string> first_seen_;  // names in the order first seen (no training file)
};

// The `targets` real-valued targets that begin a row (fields[0, targets)) into *out (when not
// null); InvalidArgument at file:line for a field that is not a finite number.
Status ParseTargets(const std::vector<std::string>& fields, int targets, const std::string& name,
                    int64_t line_no, std::vector<float>* out) {
  for (int i = 0; i < targets; ++i) {
    float v = 0;
    if (!ParseFloatField(fields[i], &v)) {
      return InvalidArgument(At(name, line_no) + "target " + Shown(fields[i]) + " (field " +
                             std::to_string(i + 1) + ") is not a finite number (task: "
                             "regression reads the first " + std::to_string(targets) +
                             " field(s) of a row as real-valued targets)");
    }
    if (out != nullptr) out->push_back(v);
  }
  return Status::Ok();
}

// ParseCsv over the lines of `reader`, keeping only the first `keep` rows when keep > 0 (every
// row is checked all the same). A test file is read with its training file (`train`, named
// train_name, whose facts are train_facts): its labels must be of the training labels' kind, and
// names get the training file's class ids.
StatusOr<Dataset> ParseCsvLines(CsvLines* reader, const std::string& name, int sequence_length,
                                int targets, int64_t keep, CsvFacts* facts,
                                const Dataset* train = nullptr,
                                const CsvFacts* train_facts = nullptr,
                                const std::string& train_name = "") {
  if (sequence_length < 1 || sequence_length > kMaxSequenceLength) {
    return InvalidArgument(name + ": sequence_length " + std::to_string(sequence_length) +
                           " is out of range [1, " + std::to_string(kMaxSequenceLength) + "]");
  }
  if (targets < 0 || targets > kMaxTargets) {
    return InvalidArgument(name + ": targets " + std::to_string(targets) + " is out of range [0, " +
                           std::to_string(kMaxTargets) + "]");
  }
  const int head = std::max(1, targets);  // the label, or the targets, before the features
  Dataset ds;
  int64_t rows = 0;  // checked, kept or not
  int width = -1;    // features per row, from the first data row
  int top = -1;
  CsvLabels labels(train, train_name);
  std::vector<std::string> fields;
  HPSWEEP_RETURN_IF_ERROR(reader->ForEach([&](const std::string& line, int64_t line_no) -> Status {
    // Bounded before splitting: a line of a million commas must not become a million strings.
    const int64_t commas = std::count(line.begin(), line.end(), ',');
    if (commas > kCsvMaxFeatures) {
      return InvalidArgument(At(name, line_no) + std::to_string(commas) +
                             " features, over the limit of " + std::to_string(kCsvMaxFeatures));
    }
    SplitFields(line, &fields);
    if (rows == 0 && width < 0 && line_no == 1 && IsHeader(fields)) return Status::Ok();
    if (fields.size() < static_cast<size_t>(head) + 1) {
      return InvalidArgument(At(name, line_no) +
                             (targets > 0 ? "a row needs its " + std::to_string(targets) +
                                                " target(s) and at least one feature "
                                                "(y1,...,f1,f2,...)"
                                          : std::string("a row needs a label and at least one "
                                                        "feature (label,f1,f2,...)")));
    }
    const int64_t k = static_cast<int64_t>(fields.size()) - head;
    if (width < 0) {
      if (k > kCsvMaxFeatures) {
        return InvalidArgument(At(name, line_no) + std::to_string(k) +
                               " features, over the limit of " + std::to_string(kCsvMaxFeatures));
      }
      if (k % sequence_length != 0) {
        return InvalidArgument(At(name, line_no) + std::to_string(k) +
                               " features per row cannot be split into sequence_length " +
                               std::to_string(sequence_length) +
                               " steps (it must divide the row length exactly)");
      }
      width = static_cast<int>(k);
    } else if (k != width) {
      return InvalidArgument(At(name, line_no) + "ragged row: " + std::to_string(k) +
                             " features, but the first row has " + std::to_string(width));
    }
    if (rows >= kCsvMaxRows) {
      return InvalidArgument(At(name, line_no) + "over the limit of " +
                             std::to_string(kCsvMaxRows) + " rows");
    }
    if (rows == 0) facts->first_line = line_no;
    const bool kept = keep <= 0 || ds.count < keep;
    if (targets > 0) {
      HPSWEEP_RETURN_IF_ERROR(ParseTargets(fields, targets, name, line_no,
                                           kept ? &ds.targets : nullptr));
    } else {
      StatusOr<int> parsed = labels.Parse(fields[0], name, line_no);
      if (!parsed.ok()) return parsed.status();
      const int label = *parsed;
      top = std::max(top, label);
      facts->present[static_cast<size_t>(label)] = true;
      if (train_facts != nullptr && !train_facts->present[static_cast<size_t>(label)] &&
          facts->unseen_line == 0) {
        facts->unseen_line = line_no;  // refused by the caller once the whole file is read
        facts->unseen_label = label;
      }
      if (kept) ds.labels.push_back(static_cast<uint8_t>(label));
    }
    for (int64_t i = head; i < head + k; ++i) {
      float v = 0;
      if (!ParseFloatField(fields[i], &v)) {
        return InvalidArgument(At(name, line_no) + "field " + std::to_string(i + 1) + " " +
                               Shown(fields[i]) + " is not a finite number");
      }
      if (kept) ds.images.push_back(v);
    }
    if (kept) ++ds.count;
    ++rows;
    return Status::Ok();
  }));
  if (rows == 0) return InvalidArgument(name + ": no data rows");
  ds.rows = sequence_length;
  ds.cols = width / sequence_length;
  ds.num_classes = top + 1;
  ds.num_targets = targets;
  if (targets > 0) ds.num_classes = 0;
  labels.Finish(&ds, facts);
  return ds;
}

// "0..2", "0, 2, 5..9": the labels marked in `present`.
std::string ClassList(const std::vector<bool>& present) {
  std::string out;
  for (size_t a = 0; a < present.size();) {
    if (!present[a]) {
      ++a;
      continue;
    }
    size_t b = a;
    while (b + 1 < present.size() && present[b + 1]) ++b;
    out += (out.empty() ? "" : ", ") + std::to_string(a);
    if (b > a) out += (b == a + 1 ? ", " : "..") + std::to_string(b);
    a = b + 1;
  }
  return out;
}

// The test set may hold only labels the training set has: a class seen only in testing would
// silently widen the model's output layer with a class it never learns (and score it as always
// wrong). `train_labels` is the whole training set, before any train_limit cut. Returns the index
// of the first test item whose label training never has, or -1.
int64_t FirstUnseenLabel(const std::vector<uint8_t>& train_labels,
                         const std::vector<uint8_t>& test_labels, std::vector<bool>* present) {
  present->assign(kMaxClasses, false);
  for (uint8_t l : train_labels) (*present)[l] = true;
  for (size_t i = 0; i < test_labels.size(); ++i) {
    if (!(*present)[test_labels[i]]) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace

StatusOr<Dataset> ParseCsv(const std::string& bytes, const std::string& name, int sequence_length,
                           int targets) {
  if (static_cast<int64_t>(bytes.size()) > kCsvMaxBytes) {
    return InvalidArgument(name + ": over the limit of " + std::to_string(kCsvMaxBytes) + " bytes");
  }
  CsvLines reader(bytes, name);
  CsvFacts facts;
  return ParseCsvLines(&reader, name, sequence_length, targets, 0, &facts);
}

StatusOr<Mnist> LoadDataset(const DataSpec& spec, int64_t train_limit, int64_t test_limit) {
  if (spec.targets > 0 && spec.format != DataFormat::kCsv) {
    return InvalidArgument(std::string("targets: real-valued targets are read from csv data; ") +
                           DataFormatName(spec.format) + " data have class labels");
  }
  if (spec.format == DataFormat::kMnist) return LoadMnist(spec.path, train_limit);
  std::vector<bool> present;
  if (spec.format == DataFormat::kIdx) {
    StatusOr<Mnist> m = LoadIdxFolder(spec.path, train_limit, kMaxClasses);
    if (!m.ok()) return m.status();
    StatusOr<std::vector<std::string>> files = IdxFolderFiles(spec.path);
    if (!files.ok()) return files.status();
    // The whole training set's labels (a cut may lack classes the full set has): one byte each.
    StatusOr<std::vector<uint8_t>> train_labels = m->train.labels;
    if (train_limit > 0) train_labels = ReadIdxLabels((*files)[1]);
    if (!train_labels.ok()) return train_labels.status();
    const int64_t bad = FirstUnseenLabel(*train_labels, m->test.labels, &present);
    if (bad >= 0) {
      return InvalidArgument(
          (*files)[3] + ": item " + std::to_string(bad) + " (counting from 0) has label " +
          std::to_string(m->test.labels[static_cast<size_t>(bad)]) +
          ", which the training labels (" + (*files)[1] + ") never have; their classes are " +
          ClassList(present) + UnseenLabelAdvice());
    }
    return m;
  }
  Mnist m;
  CsvFacts facts[2];
  for (int which = 0; which < 2; ++which) {
    const std::string& path = which == 0 ? spec.train_file : spec.test_file;
    if (path.empty()) {
      return InvalidArgument(std::string("a csv data set needs a ") +
                             (which == 0 ? "training" : "test") + " file");
    }
    StatusOr<int> fd = OpenCsv(path);
    if (!fd.ok()) return fd.status();
    FdCloser closer(*fd);
    CsvLines reader(*fd, path);
    const int seq = spec.sequence_length;
    StatusOr<Dataset> ds =
        which == 0 ? ParseCsvLines(&reader, path, seq, spec.targets, train_limit, &facts[0])
                   : ParseCsvLines(&reader, path, seq, spec.targets, test_limit, &facts[1],
                                   &m.train, &facts[0], spec.train_file);
    if (!ds.ok()) return ds.status();
    (which == 0 ? m.train : m.test) = std::move(*ds);
  }
  if (m.train.rows != m.test.rows || m.train.cols != m.test.cols) {
    return InvalidArgument(At(spec.test_file, facts[1].first_line) + "rows have " +
                           std::to_string(m.test.rows * m.test.cols) + " features, but " +
                           spec.train_file + "'s have " +
                           std::to_string(m.train.rows * m.train.cols) +
                           "; test rows must have the training rows' shape");
  }
  if (facts[1].unseen_line > 0) {
    return InvalidArgument(At(spec.test_file, facts[1].unseen_line) + "label " +
                           std::to_string(facts[1].unseen_label) +
                           " never occurs in the training file " + spec.train_file +
                           " (its classes are " + ClassList(facts[0].present) + ")" +
                           UnseenLabelAdvice());
  }
  m.train.num_classes = m.test.num_classes = std::max(m.train.num_classes, m.test.num_classes);
  return m;
}

void ShapeModelToData(const Mnist& data, ModelConfig* model) {
  model->steps = data.train.rows;
  model->features = data.train.cols;
  model->classes = data.train.num_targets > 0 ? data.train.num_targets : data.train.num_classes;
}

namespace {

std::string LabelWords(int targets) {
  return targets > 0 ? "its " + std::to_string(targets) + " target(s)" : std::string("a label");
}

// ParseCsvForModel over the lines of `reader`.
StatusOr<ModelInputs> ParseModelLines(CsvLines* reader, const std::string& name, int steps,
                                      int features, int targets) {
  const int head = targets > 0 ? targets : 1;  // a label, or a regression model's targets
  const int64_t width = int64_t{steps} * features;
  if (steps < 1 || features < 1 || width > kCsvMaxFeatures) {
    return InvalidArgument(name + ": the model reads " + std::to_string(steps) + " steps of " +
                           std::to_string(features) + " features; CSV rows hold at most " +
                           std::to_string(kCsvMaxFeatures) + " values");
  }
  ModelInputs in;
  in.data.rows = steps;
  in.data.cols = features;
  int64_t fields_per_row = -1;  // width or width + 1, from the first data row
  int top = -1;
  std::vector<std::string> fields;
  HPSWEEP_RETURN_IF_ERROR(reader->ForEach([&](const std::string& line, int64_t line_no) -> Status {
    const int64_t commas = std::count(line.begin(), line.end(), ',');
    if (commas > width + head - 1) {
      return InvalidArgument(At(name, line_no) + std::to_string(commas + 1) +
                             " values, but the model reads " + std::to_string(width) + " (" +
                             std::to_string(steps) + " steps of " + std::to_string(features) +
                             " features), with or without " + LabelWords(targets) + " first");
    }
    SplitFields(line, &fields);
    float v = 0;
    if (fields_per_row < 0 && line_no == 1 && IsHeader(fields)) return Status::Ok();
    const int64_t k = static_cast<int64_t>(fields.size());
    if (fields_per_row < 0) {
      if (k != width && k != width + head) {
        return InvalidArgument(At(name, line_no) + std::to_string(k) +
                               " values, but the model reads " + std::to_string(width) + " (" +
                               std::to_string(steps) + " steps of " + std::to_string(features) +
                               " features), with or without " + LabelWords(targets) + " first");
      }
      fields_per_row = k;
      in.labeled = k == width + head;
    } else if (k != fields_per_row) {
      return InvalidArgument(At(name, line_no) + "ragged row: " + std::to_string(k) +
                             " values, but the first row has " + std::to_string(fields_per_row));
    }
    if (in.data.count >= kCsvMaxRows) {
      return InvalidArgument(At(name, line_no) + "over the limit of " +
                             std::to_string(kCsvMaxRows) + " rows");
    }
    int label = 0;
    if (in.labeled && targets > 0) {
      HPSWEEP_RETURN_IF_ERROR(ParseTargets(fields, targets, name, line_no, &in.data.targets));
    } else if (in.labeled) {
      const std::string& lab = fields[0];
      float lv = 0;
      if (!ParseFloatField(lab, &lv) && BadClassName(lab).empty()) {
        return InvalidArgument(At(name, line_no) + "label " + ShownName(lab) +
                               " is a name, but a model file keeps no class names: give the "
                               "rows without their labels (" +
                               std::to_string(width) + " values each)");
      }
      if (!ParseFloatField(lab, &lv) || lv != std::floor(lv) || lv < 0 || lv >= kMaxClasses) {
        return InvalidArgument(At(name, line_no) + "label " + Shown(lab) +
                               " is not an integer in [0, " + std::to_string(kMaxClasses - 1) +
                               "]");
      }
      label = static_cast<int>(lv);
      top = std::max(top, label);
    }
    in.data.labels.push_back(static_cast<uint8_t>(label));
    in.lines.push_back(line_no);
    for (int64_t i = in.labeled ? head : 0; i < k; ++i) {
      if (!ParseFloatField(fields[i], &v)) {
        return InvalidArgument(At(name, line_no) + "field " + std::to_string(i + 1) + " " +
                               Shown(fields[i]) + " is not a finite number");
      }
      in.data.images.push_back(v);
    }
    ++in.data.count;
    return Status::Ok();
  }));
  if (in.data.count == 0) return InvalidArgument(name + ": no data rows");
  in.data.num_classes = top + 1;
  if (targets > 0) {
    in.data.labels.clear();
    in.data.num_classes = 0;
    in.data.num_targets = targets;
  }
  return in;
}

}  // namespace

StatusOr<ModelInputs> ParseCsvForModel(const std::string& bytes, const std::string& name, int steps,
                                       int features, int targets) {
  if (static_cast<int64_t>(bytes.size()) > kCsvMaxBytes) {
    return InvalidArgument(name + ": over the limit of " + std::to_string(kCsvMaxBytes) + " bytes");
  }
  CsvLines reader(bytes, name);
  return ParseModelLines(&reader, name, steps, features, targets);
}

StatusOr<ModelInputs> LoadCsvForModel(const std::string& path, int steps, int features,
                                      int targets) {
  StatusOr<int> fd = OpenCsv(path);
  if (!fd.ok()) return fd.status();
  FdCloser closer(*fd);
  CsvLines reader(*fd, path);
  return ParseModelLines(&reader, path, steps, features, targets);
}

StatusOr<std::string> DatasetSha256(const DataSpec& spec) {
  StatusOr<std::vector<std::string>> files = spec.Files();
  if (!files.ok()) return files.status();
  std::vector<std::string> shas;
  for (const std::string& f : *files) {
    StatusOr<std::string> sha = Sha256File(f);
    if (!sha.ok()) return sha.status();
    shas.push_back(*sha);
  }
  return DatasetSha256Of(*files, shas);
}

std::string DatasetSha256Of(const std::vector<std::string>& files,
                            const std::vector<std::string>& shas) {
  std::string all;  // "name sha" a line, names without their folders
  for (size_t i = 0; i < files.size() && i < shas.size(); ++i) {
    all += files[i].substr(files[i].find_last_of('/') + 1) + " " + shas[i] + "\n";
  }
  return Sha256Hex(all);
}

}  // namespace hpsweep
