// A user's own data set: an IDX folder (MNIST's layout, any image size, any number of classes) or
// two CSV files of `label,f1,f2,...` rows (or `y1,...,yN,f1,...` rows of real-valued targets for
// task: regression, DataSpec::targets), read as (N, T, F) float32 inputs with integer labels
// (IDX and MNIST images are held as bytes and read as floats a batch at a time: engine/mnist.h).
//
// One description (DataSpec) serves the sweep file's `data:` section, `hpsweep train`'s
// --data-format/--data-path/--train-file/--test-file/--sequence-length flags and the tests.
//
//   idx: DIR holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
//        t10k-labels-idx1-ubyte (each plain or .gz, engine/mnist.h). Each image of R x C bytes is
//        read row by row: T = R steps of F = C features, pixels scaled to [0,1]. Classes = the
//        largest training label + 1; every test label must occur in training (LoadDataset).
//   csv: each row is `label,f1,...,fK`; K = T * F with T = sequence_length (so F = K / T must be a
//        whole number; sequence_length 1 gives flat features, e.g. for cell=dense). Step t holds
//        f(t*F+1)..f(t*F+F). Fields are split at every comma and trimmed of spaces and tabs;
//        nothing is quoted. The first line of the file is a header (skipped) when none of its
//        fields is a number, and data otherwise: `label,f1,f2` is a header, `cat,1,2` and `7,1,2`
//        are data. Blank lines are skipped; "\r\n" line ends are accepted. Features are used as
//        given (no scaling). Labels are all integers or all names (a file that mixes them is
//        refused at the first row of the other kind): integers give classes 0..largest training
//        label; names (at most kMaxClassNameBytes bytes of printable UTF-8, no double quote) give
//        classes 0..n-1 in the byte order of the training file's names, kept as
//        Dataset::class_names. Every test label must occur in training (for names: be one of the
//        training file's names). Messages name rows by their line in the file (header counted).
//
// Every input is hostile: sizes are bounded (kCsvMaxBytes, kCsvMaxLineBytes, kCsvMaxRows,
// kCsvMaxFeatures, kMaxClasses) and checked before they are allocated; a file is read in pieces
// (kCsvReadChunkBytes), one line at a time, so that reading it holds at most one line of its text.
// Every error is InvalidArgument (NotFound for a missing file) and names file:line and the
// problem: a line over kCsvMaxLineBytes, a ragged row, a non-numeric or non-finite field, a label
// that is negative, not an integer, or >= kMaxClasses, a label name that is too long or not
// printable, more than kMaxClasses names, labels of both kinds, a row length that sequence_length
// does not divide, a test file whose row shape differs from training's.
//
// Thread-safety: the functions share no state. Results are plain values owned by the caller.
#ifndef HPSWEEP_ENGINE_DATASET_H_
#define HPSWEEP_ENGINE_DATASET_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/mnist.h"
#include "base/status.h"

namespace hpsweep {

// Labels are stored in a byte (Dataset::labels), as IDX stores them: at most 256 classes.
inline constexpr int kMaxClasses = 256;
inline constexpr int64_t kCsvMaxBytes = int64_t{1} << 30;  // 1 GiB per file
inline constexpr int64_t kCsvMaxRows = 10'000'000;
inline constexpr int kCsvMaxFeatures = 65536;  // values per row after the label
// A CSV line (without its line end): kCsvMaxFeatures values of up to 256 bytes each, far above any
// number ParseCsv accepts (64 bytes) and any label name, spaces around them included. A longer
// line is refused at file:line before it is copied (16 MiB).
inline constexpr int64_t kCsvMaxLineBytes = int64_t{kCsvMaxFeatures} * 256;
inline constexpr size_t kCsvReadChunkBytes = size_t{1} << 20;  // a CSV file is read 1 MiB at a time
inline constexpr int kMaxSequenceLength = 4096;
inline constexpr int kMaxClassNameBytes = 64;  // a CSV label given as a name
inline constexpr int kMaxTargets = 1024;       // real-valued targets of a regression row

enum class DataFormat { kMnist, kIdx, kCsv };

struct DataSpec {
  DataFormat format = DataFormat::kMnist;
  std::string path;         // idx (and mnist): the folder
  std::string train_file;   // csv
  std::string test_file;    // csv
  int sequence_length = 1;  // csv: T
  // csv, task: regression (README.md, "Regression"): each row begins with this many real-valued
  // targets (`y1,...,yN,f1,...,fK`) instead of a class label; 0 = a label. At most kMaxTargets.
  int targets = 0;

  // The files that make up the data set, in a stable order (idx: the four IDX files as found).
  StatusOr<std::vector<std::string>> Files() const;
};

// "mnist", "idx", "csv"; ParseDataFormat is the inverse (InvalidArgument naming the choices).
const char* DataFormatName(DataFormat f);
StatusOr<DataFormat> ParseDataFormat(const std::string& text);

// The data set that a trial's reserved data.* params name (data.format, data.path, data.train,
// data.test, data.sequence_length, data.targets; search/sweep_data.cc writes them). param(key)
// is a param's value, or "" when the trial has none. InvalidArgument for an unknown data.format
// or data.targets out of [0, kMaxTargets].
StatusOr<DataSpec> DataSpecFromParams(const std::function<std::string(const char* key)>& param);

// Parses one CSV file's bytes (name used in messages), as LoadDataset reads a file. Integer
// labels: num_classes is the largest label + 1. Names: class_names holds the file's names sorted,
// labels index it, num_classes is their count.
// targets > 0: each row begins with that many real-valued targets (Dataset::targets,
// num_targets; no labels, num_classes 0); a target that is not a finite number is
// InvalidArgument at file:line.
StatusOr<Dataset> ParseCsv(const std::string& bytes, const std::string& name, int sequence_length,
                           int targets = 0);

// Reads the files the spec names and checks that training and test agree in shape, and that every
// test label occurs in the (whole) training set: a class only the test set has would widen the
// model's output with a class it never learns, so it is InvalidArgument naming the test file and
// line (csv: file:line, the file's own line number) or the test labels file and item (idx, counting
// from 0), and the training classes. A label training skips (1 where training has 0 and 2) is
// refused the same way. Both sets get num_classes = the training set's largest label + 1. With
// names, the test file is read with the training file's names (a name training lacks, or labels of
// the other kind, are refused at the test file's line) and both sets get its class_names.
// train_limit > 0 keeps only the first train_limit training rows, test_limit > 0 (csv only) the
// first test_limit test rows: the rows after them are read and checked as every row is, with the
// same errors, but not stored, so LoadDataset(spec, 1, 1) checks a csv data set (and gives its
// shape and classes) in memory that does not grow with the files. num_classes and class_names
// are the whole files'.
StatusOr<Mnist> LoadDataset(const DataSpec& spec, int64_t train_limit = 0,
                            int64_t test_limit = 0);

// Sets the model's input shape (steps, features) and output classes (or targets) from the data.
// A spec with targets > 0 that is not csv is InvalidArgument (LoadDataset): IDX and MNIST
// labels are classes.
void ShapeModelToData(const Mnist& data, ModelConfig* model);

// Inputs for a trained model that reads `steps` steps of `features` features (`hpsweep predict
// --csv`): each row holds steps*features values, or a label and those values (label first, as in
// training files); every row as the first. A header line and blank lines are skipped as in
// ParseCsv; the same bounds. A row of any other length is InvalidArgument naming file:line, its
// length and the model's. Unlabeled rows get label 0 (labeled says which). Labels must be
// integers: a model file does not carry class names, so a label name is refused (give the rows
// without their labels). targets > 0 (a regression model of that many outputs): a row may begin
// with that many real-valued targets instead of a label (data.targets when labeled).
struct ModelInputs {
  Dataset data;  // rows = steps, cols = features
  bool labeled = false;
  std::vector<int64_t> lines;  // each row's line in the file (1-based, header counted)
};
StatusOr<ModelInputs> ParseCsvForModel(const std::string& bytes, const std::string& name, int steps,
                                       int features, int targets = 0);
// The same from a file (at most kCsvMaxBytes; NotFound when missing).
StatusOr<ModelInputs> LoadCsvForModel(const std::string& path, int steps, int features,
                                      int targets = 0);

// The data set's identity: sha256 over "name sha256\n" of each of its files (hex).
StatusOr<std::string> DatasetSha256(const DataSpec& spec);
// The same from each file's own SHA-256 (files as spec.Files() lists them, shas in that order):
// how a server that hashed the files through descriptors it holds gets the data set's.
std::string DatasetSha256Of(const std::vector<std::string>& files,
                            const std::vector<std::string>& shas);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_DATASET_H_
