#include "search/params_json.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

namespace hpsweep {
namespace {

using json = nlohmann::json;

enum class Type { kString, kInt, kUint, kNumber, kBool, kIntList, kNumberList, kAny };

Type TypeOf(const std::string& key) {
  static const std::map<std::string, Type> kTypes = {
      {"units", Type::kInt},
      {"layers", Type::kInt},
      {"batch_size", Type::kInt},
      {"epochs", Type::kInt},
      {"train_limit", Type::kInt},
      {"seed", Type::kUint},
      {"learning_rate", Type::kNumber},
      {"momentum", Type::kNumber},
      {"recurrent_dropout", Type::kNumber},
      {"validation_split", Type::kNumber},
      {"clipnorm", Type::kNumber},
      {"clipvalue", Type::kNumber},
      {"global_clipnorm", Type::kNumber},
      {"weight_decay", Type::kNumber},
      {"lr_drop", Type::kNumber},
      {"lr_decay_rate", Type::kNumber},
      {"lr_factor", Type::kNumber},
      {"lr_min", Type::kNumber},
      {"lr_every", Type::kInt},
      {"lr_decay_steps", Type::kInt},
      {"warmup_epochs", Type::kInt},
      {"lr_patience", Type::kInt},
      {"lr_schedule", Type::kString},
      // which weights a trial keeps; early stopping
      {"keep", Type::kString},
      {"early_stopping", Type::kBool},
      {"patience", Type::kInt},
      {"min_delta", Type::kNumber},
      {"restore_best_weights", Type::kBool},
      {"precision", Type::kString},
      {"nesterov", Type::kBool},
      {"validation_shuffle", Type::kBool},
      {"validation_stratify", Type::kBool},
      {"bidirectional", Type::kBool},
      {"dense", Type::kIntList},
      {"dropout", Type::kNumberList},
      {"cell", Type::kString},
      {"activation", Type::kString},
      {"dense_activation", Type::kString},
      {"output", Type::kString},
      {"optimizer", Type::kString},
      {"loss", Type::kString},
      {"validation", Type::kString},
      {"label", Type::kString},
  };
  auto it = kTypes.find(key);
  return it == kTypes.end() ? Type::kAny : it->second;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// Decimal text only: strtoll and strtod also take hex, "inf", "nan" and leading blanks.
bool Decimal(const std::string& s, bool allow_fraction) {
  if (s.empty() || s.size() > 64) return false;
  size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  if (i == s.size()) return false;
  bool digit = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (!allow_fraction || std::strchr(".eE+-", c) == nullptr) {
      return false;
    }
  }
  return digit;
}

std::optional<json> Int(const std::string& s) {
  if (!Decimal(s, false)) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return json(static_cast<int64_t>(v));
}

std::optional<json> Uint(const std::string& s) {
  if (!Decimal(s, false) || s[0] == '-') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return json(static_cast<uint64_t>(v));
}

std::optional<json> Number(const std::string& s) {
  if (!Decimal(s, true)) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return json(v);
}

std::optional<json> Bool(const std::string& s) {
  if (s == "true") return json(true);
  if (s == "false") return json(false);
  return std::nullopt;
}

// "[64, 32]" (or "64,32", as ApplyKey also takes) to a list; each item typed by `item`.
std::optional<json> List(const std::string& s, std::optional<json> (*item)(const std::string&)) {
  std::string body = s;
  if (!body.empty() && body.front() == '[') {
    if (body.back() != ']') return std::nullopt;
    body = body.substr(1, body.size() - 2);
  }
  json out = json::array();
  if (Trim(body).empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = body.find(',', start);
    auto v = item(Trim(body.substr(start, comma == std::string::npos ? comma : comma - start)));
    if (!v) return std::nullopt;
    out.push_back(*v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// A key that the table does not know (one added to engine/config.h later): its text decides.
std::optional<json> Any(const std::string& s) {
  if (auto b = Bool(s)) return b;
  if (auto i = Int(s)) return i;
  if (auto n = Number(s)) return n;
  if (!s.empty() && s.front() == '[') {
    if (auto l = List(s, Number)) return l;
  }
  return std::nullopt;
}

// The shortest text that reads back as the same double ("0.001", not "0.0010000000000000000208").
std::string ShortestDouble(double v) {
  char buf[40];
  for (int p = 6; p <= 17; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

json ParamValueJson(const std::string& key, const std::string& text) {
  std::optional<json> v;
  switch (TypeOf(key)) {
    case Type::kString: break;
    case Type::kInt: v = Int(text); break;
    case Type::kUint: v = Uint(text); break;
    case Type::kNumber: v = Number(text); break;
    case Type::kBool: v = Bool(text); break;
    case Type::kIntList: v = List(text, Int); break;
    case Type::kNumberList: v = List(text, Number); break;
    case Type::kAny: v = Any(text); break;
  }
  return v ? *v : json(text);
}

json ParamsJson(const std::map<std::string, std::string>& params) {
  json out = json::object();
  for (const auto& [key, text] : params) out[key] = ParamValueJson(key, text);
  return out;
}

std::string ParamText(const json& value) {
  switch (value.type()) {
    case json::value_t::string: return value.get<std::string>();
    case json::value_t::boolean: return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer: return std::to_string(value.get<int64_t>());
    case json::value_t::number_unsigned: return std::to_string(value.get<uint64_t>());
    case json::value_t::number_float: return ShortestDouble(value.get<double>());
    case json::value_t::null: return "";
    case json::value_t::array: {
      std::string s = "[";
      for (size_t i = 0; i < value.size(); ++i) s += (i ? ", " : "") + ParamText(value[i]);
      return s + "]";
    }
    default: return value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

nlohmann::json MeasuredJson(double v) {
  return std::isfinite(v) && v >= 0 ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace hpsweep
