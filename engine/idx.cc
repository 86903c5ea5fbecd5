#include "engine/idx.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace hpsweep {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr size_t kChunkBytes = size_t{1} << 20;
// A gzipped file's size is known only once decompressed; the buffer grows with the data
// actually read, starting from at most this much.
constexpr uint64_t kMaxInitialReserve = uint64_t{64} << 20;

const char kRefetchHint[] =
    "delete it and fetch it again (scripts/bootstrap.sh re-fetches MNIST into data/mnist)";

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", static_cast<unsigned>(v));
  return buf;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// One open IDX file, plain or gzipped, read front to back. Owns the file descriptor.
class IdxStream {
 public:
  IdxStream() = default;
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;
  ~IdxStream() {
    if (gz_ != nullptr) gzclose(gz_);  // also closes the descriptor
  }

  Status Open(const std::string& path) {
    path_ = path;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) return NotFound(path + ": no such file");
      return IoError(path + ": cannot open: " + std::strerror(err));
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return IoError(path + ": not a regular file; pass the path of an IDX file");
    }
    file_size_ = static_cast<uint64_t>(st.st_size);
    uint8_t magic[2] = {0, 0};
    gzipped_ = ::pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    gz_ = gzdopen(fd, "rb");
    if (gz_ == nullptr) {
      ::close(fd);
      return IoError(path + ": cannot open (zlib out of memory?)");
    }
    gzbuffer(gz_, 256 * 1024);
    return Status::Ok();
  }

  // Reads up to n bytes into buf; *got < n only at the end of the (decompressed) data.
  Status Read(uint8_t* buf, uint64_t n, uint64_t* got) {
    *got = 0;
    while (*got < n) {
      unsigned want = static_cast<unsigned>(std::min<uint64_t>(n - *got, kChunkBytes));
      int r = gzread(gz_, buf + *got, want);
      if (r < 0) return ReadError();
      *got += static_cast<uint64_t>(r);
      if (static_cast<unsigned>(r) < want) {
        // Short read: the end of the data, or a gzip stream cut off in the middle.
        int errnum = Z_OK;
        gzerror(gz_, &errnum);
        if (errnum == Z_BUF_ERROR) {
          return DataLoss(path_ + ": gzip stream ends unexpectedly (the .gz file is truncated); " +
                          kRefetchHint);
        }
        if (errnum != Z_OK) return ReadError();
        break;
      }
    }
    return Status::Ok();
  }

  bool gzipped() const { return gzipped_; }
  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

 private:
  Status ReadError() {
    int errnum = Z_OK;
    const char* msg = gzerror(gz_, &errnum);
    if (errnum == Z_ERRNO) return IoError(path_ + ": read failed: " + std::strerror(errno));
    return DataLoss(path_ + ": corrupt gzip data (" + (msg ? msg : "unknown zlib error") + "); " +
                    kRefetchHint);
  }

  std::string path_;
  gzFile gz_ = nullptr;
  bool gzipped_ = false;
  uint64_t file_size_ = 0;
};

// Reads the magic and `ndims` dimensions. `kind` ("image", "label") names the expected file.
Status ReadHeader(IdxStream& in, uint32_t want_magic, const char* kind, int ndims, uint32_t* dims) {
  const uint64_t header_bytes = 4 + 4 * static_cast<uint64_t>(ndims);
  uint8_t header[16];
  uint64_t got = 0;
  HPSWEEP_RETURN_IF_ERROR(in.Read(header, header_bytes, &got));
  if (got >= 4) {
    uint32_t magic = BigEndian32(header);
    if (magic != want_magic) {
      std::string msg = in.path() + ": not an IDX " + kind + " file: expected magic " +
                        Hex32(want_magic) + ", found " + Hex32(magic);
      if (magic == kLabelsMagic) msg += " (an IDX label file)";
      if (magic == kImagesMagic) msg += " (an IDX image file)";
      return InvalidArgument(msg + "; check that the path names the " + kind + " file");
    }
  }
  if (got < header_bytes) {
    return DataLoss(in.path() + ": truncated: an IDX " + kind + " header needs " +
                    std::to_string(header_bytes) + " bytes, the file holds " + std::to_string(got) +
                    (in.gzipped() ? " (decompressed)" : "") + "; " + kRefetchHint);
  }
  for (int i = 0; i < ndims; ++i) dims[i] = BigEndian32(header + 4 + 4 * i);
  return Status::Ok();
}

// Reads the `expected` bytes after a header of `header_bytes` into *out, and checks that nothing
// follows them. `declared` says in words what the header declared, for messages.
Status ReadPayload(IdxStream& in, uint64_t header_bytes, uint64_t expected,
                   const std::string& declared, std::vector<uint8_t>* out) {
  const std::string& path = in.path();
  if (!in.gzipped()) {
    // The size is known: check it before allocating anything.
    uint64_t have = in.file_size() - std::min(in.file_size(), header_bytes);
    if (have < expected) {
      return DataLoss(path + ": truncated: the header declares " + declared + ", expecting " +
                      std::to_string(expected) + " bytes of data, but the file holds " +
                      std::to_string(have) + "; " + kRefetchHint);
    }
    if (have > expected) {
      return DataLoss(path + ": " + std::to_string(have - expected) +
                      " trailing bytes after the data (the header declares " + declared + ", " +
                      std::to_string(expected) + " bytes); the file is corrupt or not IDX; " +
                      kRefetchHint);
    }
    out->resize(expected);
    uint64_t got = 0;
    HPSWEEP_RETURN_IF_ERROR(in.Read(out->data(), expected, &got));
    if (got != expected) {
      return DataLoss(path + ": truncated while reading (file changed?): expected " +
                      std::to_string(expected) + " bytes of data, got " + std::to_string(got));
    }
    return Status::Ok();
  }

  // Gzipped: grow the buffer with the data actually decompressed, never to more than declared.
  out->clear();
  out->reserve(std::min(expected, kMaxInitialReserve));
  uint64_t total = 0;
  while (total < expected) {
    uint64_t want = std::min<uint64_t>(expected - total, kChunkBytes);
    out->resize(total + want);
    uint64_t got = 0;
    HPSWEEP_RETURN_IF_ERROR(in.Read(out->data() + total, want, &got));
    total += got;
    if (got < want) break;
  }
  out->resize(total);
  if (total < expected) {
    out->clear();
    out->shrink_to_fit();
    return DataLoss(path + ": truncated: the header declares " + declared + ", expecting " +
                    std::to_string(expected) + " bytes of data, but the file holds " +
                    std::to_string(total) + " (decompressed); " + kRefetchHint);
  }
  // Anything after the data? Count it, up to a bound (a gzip bomb should not keep us busy).
  std::vector<uint8_t> scratch(kChunkBytes);
  uint64_t extra = 0;
  for (int i = 0; i < 64; ++i) {
    uint64_t got = 0;
    HPSWEEP_RETURN_IF_ERROR(in.Read(scratch.data(), scratch.size(), &got));
    extra += got;
    if (got < scratch.size()) break;
  }
  if (extra > 0) {
    return DataLoss(path + ": " + std::to_string(extra) +
                    " trailing bytes after the data (decompressed; the header declares " +
                    declared + ", " + std::to_string(expected) +
                    " bytes); the file is corrupt or not IDX; " + kRefetchHint);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<IdxImages> ReadIdxImages(const std::string& path) {
  IdxStream in;
  HPSWEEP_RETURN_IF_ERROR(in.Open(path));
  uint32_t dims[3];
  HPSWEEP_RETURN_IF_ERROR(ReadHeader(in, kImagesMagic, "image", 3, dims));
  const uint32_t count = dims[0], rows = dims[1], cols = dims[2];
  if (count == 0) return InvalidArgument(path + ": the header declares 0 images; nothing to load");
  if (rows == 0 || cols == 0 || rows > kIdxMaxSide || cols > kIdxMaxSide) {
    return InvalidArgument(path + ": the header declares images of " + std::to_string(rows) + "x" +
                           std::to_string(cols) + " pixels; each side must be 1.." +
                           std::to_string(kIdxMaxSide) + "; the file is corrupt or not IDX");
  }
  const uint64_t expected = uint64_t{count} * rows * cols;  // < 2^56: no overflow
  const std::string declared =
      std::to_string(count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
  IdxImages images;
  HPSWEEP_RETURN_IF_ERROR(ReadPayload(in, 16, expected, declared, &images.pixels));
  images.count = count;
  images.rows = static_cast<int>(rows);
  images.cols = static_cast<int>(cols);
  return images;
}

StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  IdxStream in;
  HPSWEEP_RETURN_IF_ERROR(in.Open(path));
  uint32_t count = 0;
  HPSWEEP_RETURN_IF_ERROR(ReadHeader(in, kLabelsMagic, "label", 1, &count));
  if (count == 0) return InvalidArgument(path + ": the header declares 0 labels; nothing to load");
  std::vector<uint8_t> labels;
  HPSWEEP_RETURN_IF_ERROR(ReadPayload(in, 8, count, std::to_string(count) + " labels", &labels));
  return labels;
}

}  // namespace hpsweep
