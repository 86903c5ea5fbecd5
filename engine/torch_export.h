// A trained model written as a folder that PyTorch loads (`hpsweep export-model --format torch`,
// python/hpsweep/torch.py): no pickles, nothing executable, only
//   model.json        the architecture (format "hpsweep-torch", version 1) and a list of tensors,
//                     each with its name, shape (row-major) and file
//   NN-NAME.f32       one file per tensor: raw little-endian float32, in the engine's (Keras's)
//                     layouts (kernel (in, out); recurrent gates Keras's order, LSTM i,f,c,o,
//                     GRU z,r,h with reset_after, its bias (2, 3H): input, then recurrent)
// The Python side maps them to torch.nn's names and layouts. Only what torch.nn's RNN, LSTM and
// GRU compute is exported: CheckTorchExportable refuses the rest, naming the key (and task:
// regression models, whose outputs the module's softmax would turn into probabilities).
//
// Thread-safety: functions only.
#ifndef HPSWEEP_ENGINE_TORCH_EXPORT_H_
#define HPSWEEP_ENGINE_TORCH_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/trainer.h"

namespace hpsweep {

// OK when torch.nn can compute the model exactly: activation tanh for lstm and gru (torch.nn.LSTM
// and GRU have no other), tanh or relu for simple_rnn; linear, relu, tanh or sigmoid for Dense
// layers. InvalidArgument naming the key otherwise.
Status CheckTorchExportable(const ModelConfig& m);

struct TorchTensor {
  std::string name;            // "recurrent.0.forward.kernel", "dense.1.bias", "output.kernel"
  std::vector<int64_t> shape;  // row-major
  int64_t offset = 0;          // first parameter in Model::params
  int64_t size = 0;            // product of shape
};

// The model's weight tensors in Model::params order (engine/network.h WeightTensorSizes).
std::vector<TorchTensor> TorchTensors(const ModelConfig& m);

// model.json's text for the model (its architecture and TorchTensors with their files).
std::string TorchModelJson(const ModelConfig& m);

// Writes the folder `dir`: made if missing; refused (InvalidArgument naming it) when it is a
// symbolic link, not a folder, or a folder with anything in it. Files are created inside the
// opened folder with O_EXCL | O_NOFOLLOW, never through a link; model.json is written last, so a
// folder without it is an export that failed. The model is checked first: CheckTorchExportable,
// and its parameter count against its config (InvalidArgument).
Status ExportTorch(const Model& model, const std::string& dir);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_TORCH_EXPORT_H_
