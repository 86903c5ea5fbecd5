#include "base/cpu_info.h"

#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace hpsweep {
namespace {

// The model name and the flag set of the first processor listed.
void ReadCpuinfo(std::string* model, std::set<std::string>* flags) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line) && (model->empty() || flags->empty())) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name" && model->empty()) {
      *model = value;
    } else if (key == "flags" && flags->empty()) {
      std::istringstream words(value);
      for (std::string w; words >> w;) flags->insert(w);
    }
  }
}

}  // namespace

std::string CpuSummary() {
  std::string model;
  std::set<std::string> flags;
  ReadCpuinfo(&model, &flags);
  std::string out = model.empty() ? "unknown CPU" : model;
  out += ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs";
  std::string isa;
  for (const char* f : {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16"}) {
    if (flags.count(f)) isa += std::string(isa.empty() ? "" : " ") + f;
  }
  if (!isa.empty()) out += ", " + isa;
  return out;
}

bool CpuHasFlag(const std::string& flag) {
  std::string model;
  std::set<std::string> flags;
  ReadCpuinfo(&model, &flags);
  return flags.count(flag) > 0;
}

}  // namespace hpsweep
