// What CPU this process runs on, for every printed speed figure (bench/, `hpsweep bench`): the
// model name and the instruction-set extensions the engine's speed depends on, read from
// /proc/cpuinfo (Linux). Figures from different CPUs differ by 2x and more; a figure that does
// not say which CPU made it cannot be checked.
//
// Thread-safety: plain functions; each call reads the file again.
#ifndef HPSWEEP_BASE_CPU_INFO_H_
#define HPSWEEP_BASE_CPU_INFO_H_

#include <string>

namespace hpsweep {

// E.g. "AMD EPYC, 2 CPUs, avx2 fma avx512f avx512_vnni avx512_bf16"; "unknown CPU, N CPUs" when
// /proc/cpuinfo cannot be read.
std::string CpuSummary();

// Whether the CPU lists `flag` (a /proc/cpuinfo flag name, e.g. "avx512_bf16").
bool CpuHasFlag(const std::string& flag);

}  // namespace hpsweep

#endif  // HPSWEEP_BASE_CPU_INFO_H_
