#include "engine/network.h"

#include <cctype>
#include <cstdio>
#include <map>
#include <sstream>

namespace hpsweep {
namespace {

// One recurrent layer of the model's cell reading `features` wide steps.
template <typename T>
std::unique_ptr<Layer<T>> MakeCell(const ModelConfig& m, int features, bool seq) {
  switch (m.cell) {
    case Cell::kSimpleRnn:
      return MakeSimpleRnn<T>(m.steps, features, m.units, m.activation, seq, m.recurrent_dropout);
    case Cell::kLstm:
      return MakeLstm<T>(m.steps, features, m.units, m.activation, seq, m.recurrent_dropout);
    case Cell::kGru:
      return MakeGru<T>(m.steps, features, m.units, m.activation, seq, m.recurrent_dropout);
    case Cell::kDense: break;
  }
  return nullptr;  // REQUIRES: a recurrent cell
}

}  // namespace

template <typename T>
std::vector<std::unique_ptr<Layer<T>>> BuildLayers(const ModelConfig& m) {
  std::vector<std::unique_ptr<Layer<T>>> layers;
  int hidden = 0;
  auto add_dropout = [&](Shape shape) {
    const float rate = m.DropoutAfter(hidden++);
    if (rate > 0) layers.push_back(MakeDropout<T>(shape, rate));
  };
  int features;
  if (m.cell == Cell::kDense) {
    features = m.steps * m.features;
    for (int l = 0; l < m.layers; ++l) {
      layers.push_back(MakeDense<T>(features, m.units, m.activation));
      features = m.units;
      add_dropout({0, features});
    }
  } else {
    features = m.features;
    for (int l = 0; l < m.layers; ++l) {
      const bool seq = l + 1 < m.layers;
      if (m.bidirectional) {
        layers.push_back(
            MakeBidirectional<T>(MakeCell<T>(m, features, seq), MakeCell<T>(m, features, seq)));
        features = 2 * m.units;
      } else {
        layers.push_back(MakeCell<T>(m, features, seq));
        features = m.units;
      }
      add_dropout({seq ? m.steps : 0, features});
    }
  }
  for (int width : m.dense) {
    layers.push_back(MakeDense<T>(features, width, m.dense_activation));
    features = width;
    add_dropout({0, features});
  }
  layers.push_back(MakeDense<T>(features, m.classes, Activation::kLinear));
  return layers;
}

int64_t CountParams(const ModelConfig& config) {
  int64_t n = 0;
  for (const auto& layer : BuildLayers<float>(config)) n += layer->NumParams();
  return n;
}

std::vector<int64_t> WeightTensorSizes(const ModelConfig& m) {
  std::vector<int64_t> sizes;
  auto dense = [&sizes](int64_t in, int64_t out) {
    sizes.push_back(in * out);
    sizes.push_back(out);
  };
  int64_t f = m.cell == Cell::kDense ? int64_t{m.steps} * m.features : m.features;
  const int64_t H = m.units;
  const int dirs = m.bidirectional && m.cell != Cell::kDense ? 2 : 1;
  for (int l = 0; l < m.layers; ++l) {
    const int64_t k = m.cell == Cell::kLstm ? 4 : m.cell == Cell::kGru ? 3 : 1;
    if (m.cell == Cell::kDense) {
      dense(f, H);
    } else {
      for (int d = 0; d < dirs; ++d) {  // Keras: forward's three variables, then backward's
        sizes.push_back(f * k * H);
        sizes.push_back(H * k * H);
        sizes.push_back(m.cell == Cell::kGru ? 2 * k * H : k * H);
      }
    }
    f = dirs * H;
  }
  for (int width : m.dense) {
    dense(f, width);
    f = width;
  }
  dense(f, m.classes);
  return sizes;
}

namespace {

std::string Thousands(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return s;
}

// Keras's first column (line length 65, positions 0.45 / 0.85 / 1.0) holds 26 characters of a
// layer's "name (Type)" and two spaces.
constexpr size_t kSummaryNameWidth = 26;

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string Summary(const ModelConfig& config) {
  auto layers = BuildLayers<float>(config);
  std::ostringstream os;
  const std::string rule(65, '_'), dbl(65, '=');
  os << "Model: \"sequential\"\n" << rule << "\n";
  os << " " << Pad("Layer (type)", 28) << Pad("Output Shape", 26) << "Param #\n" << dbl << "\n";
  std::map<std::string, int> seen;
  int64_t total = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& layer = layers[i];
    std::string kind = layer->Kind();
    std::string base;
    for (char c : kind) base += static_cast<char>(std::tolower(c));
    if (base == "simplernn") base = "simple_rnn";
    int k = seen[base]++;
    std::string name = k == 0 ? base : base + "_" + std::to_string(k);
    Shape s = layer->OutputShape();
    std::string shape =
        s.steps > 0 ? "(None, " + std::to_string(s.steps) + ", " + std::to_string(s.features) + ")"
                    : "(None, " + std::to_string(s.features) + ")";
    // A name past its column is cut and goes on below, as Keras's print_summary does
    // ("bidirectional (Bidirection" / "al)"): the other columns stay where they are.
    std::string label = name + " (" + kind + ")";
    os << " " << Pad(label.substr(0, kSummaryNameWidth), 28) << Pad(shape, 26)
       << layer->NumParams() << "\n";
    for (size_t at = kSummaryNameWidth; at < label.size(); at += kSummaryNameWidth) {
      os << " " << label.substr(at, kSummaryNameWidth) << "\n";
    }
    if (i + 1 < layers.size()) os << "\n";
    total += layer->NumParams();
  }
  os << dbl << "\n";
  os << "Total params: " << Thousands(total) << "\n";
  os << "Trainable params: " << Thousands(total) << "\n";
  os << "Non-trainable params: 0\n" << rule << "\n";
  return os.str();
}

template <typename T>
Network<T>::Network(const ModelConfig& config, const T* params, T* grads)
    : layers_(BuildLayers<T>(config)) {
  for (auto& layer : layers_) {
    layer->Bind(params + num_params_, grads + num_params_);
    num_params_ += layer->NumParams();
  }
}

template <typename T>
void Network<T>::SetPrecision(Precision p) {
  for (auto& layer : layers_) layer->SetPrecision(p);
}

template <typename T>
void Network<T>::Init(const ModelConfig& config, uint64_t seed, T* params) {
  Rng rng(seed);
  int64_t offset = 0;
  for (const auto& layer : BuildLayers<T>(config)) {
    layer->Init(params + offset, &rng);
    offset += layer->NumParams();
  }
}

template <typename T>
const Mat<T>& Network<T>::Forward(const Tensor<T>& x, const ForwardContext& ctx) {
  const Tensor<T>* h = &x;
  for (auto& layer : layers_) h = &layer->Forward(*h, ctx);
  return h->data;
}

template <typename T>
void Network<T>::Backward(const Mat<T>& dlogits) {
  dlogits_.steps = 1;
  dlogits_.data = dlogits;
  const Tensor<T>* d = &dlogits_;
  for (size_t i = layers_.size(); i-- > 0;) {
    d = layers_[i]->Backward(*d, /*need_dx=*/i > 0);
  }
}

template std::vector<std::unique_ptr<Layer<float>>> BuildLayers<float>(const ModelConfig&);
template std::vector<std::unique_ptr<Layer<double>>> BuildLayers<double>(const ModelConfig&);
template class Network<float>;
template class Network<double>;

}  // namespace hpsweep
