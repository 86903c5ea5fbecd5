// IDX file reader: the format MNIST and its look-alikes ship in.
//
// An IDX file is a big-endian header -- magic 0x000008NN (0x08 = unsigned bytes, NN = number of
// dimensions), then NN uint32 dimensions -- followed by the product of the dimensions in bytes.
// Images are 3-D (count, rows, cols, magic 0x00000803), labels 1-D (count, magic 0x00000801).
// Files may be plain or gzip-compressed; gzip is recognised by its 0x1f 0x8b magic, not by name.
//
// Malformed input is an error value, never a crash: the declared size is checked against the
// bytes the file actually holds before anything that size is allocated, so a bogus header cannot
// cause a huge allocation. Error messages begin with the path.
//   NotFound        the file does not exist
//   IoError         it exists but cannot be opened or read
//   InvalidArgument wrong magic (not an IDX file of that kind), zero or absurd dimensions, a
//                   declared size over kIdxMaxBytes or, gzipped, over the ratio limit below
//   DataLoss        truncated, trailing bytes after the data, corrupt gzip stream
//
// Thread-safety: the functions share no state; call them from any thread. Results are owned by
// the caller.
#ifndef HPSWEEP_ENGINE_IDX_H_
#define HPSWEEP_ENGINE_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

// A stack of 8-bit greyscale images as stored in the file (0 = background).
struct IdxImages {
  int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // (count, rows, cols), row-major: count*rows*cols bytes
};

// Largest rows and cols accepted (an image is at most kIdxMaxSide^2 pixels).
inline constexpr int kIdxMaxSide = 4096;
// The most data bytes (pixels or labels) a file may declare: 2 GiB, 2.7 million 28x28 images.
inline constexpr uint64_t kIdxMaxBytes = uint64_t{2} << 30;
// A gzipped file may declare at most kIdxGzipMaxRatio times its own size, or kIdxGzipFloorBytes
// whichever is more: image data compresses 3-10x (MNIST 4.8x), zlib at most about 1,000x, so a
// small file declaring gigabytes is a decompression bomb, refused before anything is inflated.
inline constexpr uint64_t kIdxGzipMaxRatio = 256;
inline constexpr uint64_t kIdxGzipFloorBytes = uint64_t{64} << 20;

// Reads an IDX image file (magic 0x00000803), plain or gzipped.
StatusOr<IdxImages> ReadIdxImages(const std::string& path);

// Reads an IDX label file (magic 0x00000801), plain or gzipped: one byte per item.
StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path);

// The same from bytes in memory (an upload, a fuzzer's input), plain or gzipped; `name` takes the
// path's place in messages. Same checks and codes as the readers above (no NotFound, no IoError
// but zlib failing to start); a declared size is checked against the bytes at hand before it is
// allocated, and a gzip stream is inflated only as far as the header declares (plus a bounded
// look for trailing bytes).
StatusOr<IdxImages> ParseIdxImages(const std::string& bytes, const std::string& name);
StatusOr<std::vector<uint8_t>> ParseIdxLabels(const std::string& bytes, const std::string& name);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_IDX_H_
