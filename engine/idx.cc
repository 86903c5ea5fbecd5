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

// No advice on where to fetch the file again: this reader serves MNIST and a user's own data alike
// (LoadMnist adds the MNIST-specific hint for its folder).
const char kRefetchHint[] = "copy or fetch the file again";

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", static_cast<unsigned>(v));
  return buf;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Where an IDX file's bytes come from: a file (IdxFile) or memory (IdxMemory), plain or gzipped,
// read front to back. `path` begins every message.
class IdxSource {
 public:
  virtual ~IdxSource() = default;
  // Reads up to n bytes into buf; *got < n only at the end of the (decompressed) data.
  virtual Status Read(uint8_t* buf, uint64_t n, uint64_t* got) = 0;
  bool gzipped() const { return gzipped_; }
  uint64_t file_size() const { return file_size_; }  // compressed size when gzipped
  const std::string& path() const { return path_; }

 protected:
  std::string path_;
  bool gzipped_ = false;
  uint64_t file_size_ = 0;
};

bool HasGzipMagic(const uint8_t* p, uint64_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

Status TruncatedGzip(const std::string& path) {
  return DataLoss(path + ": gzip stream ends unexpectedly (the .gz file is truncated); " +
                  kRefetchHint);
}

Status CorruptGzip(const std::string& path, const char* msg) {
  std::string what = msg ? msg : "unknown zlib error";
  // gzerror() prefixes the file's name, "<fd:3>" for gzdopen: the path is named already.
  if (what.rfind("<fd:", 0) == 0 && what.find(": ") != std::string::npos) {
    what = what.substr(what.find(": ") + 2);
  }
  return DataLoss(path + ": corrupt gzip data (" + what + "); " + kRefetchHint);
}

// An open IDX file, read through zlib's gzread (which passes plain files through). Owns the file
// descriptor.
class IdxFile : public IdxSource {
 public:
  IdxFile() = default;
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;
  ~IdxFile() override {
    if (gz_ != nullptr) gzclose(gz_);  // also closes the descriptor
  }

  Status Open(const std::string& path) {
    path_ = path;
    // O_NONBLOCK: a FIFO where an IDX file should be is refused below, not waited on.
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
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
    gzipped_ = ::pread(fd, magic, 2, 0) == 2 && HasGzipMagic(magic, 2);
    gz_ = gzdopen(fd, "rb");
    if (gz_ == nullptr) {
      ::close(fd);
      return IoError(path + ": cannot open (zlib out of memory?)");
    }
    gzbuffer(gz_, 256 * 1024);
    return Status::Ok();
  }

  Status Read(uint8_t* buf, uint64_t n, uint64_t* got) override {
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
        if (errnum == Z_BUF_ERROR) return TruncatedGzip(path_);
        if (errnum != Z_OK) return ReadError();
        break;
      }
    }
    return Status::Ok();
  }

 private:
  Status ReadError() {
    int errnum = Z_OK;
    const char* msg = gzerror(gz_, &errnum);
    if (errnum == Z_ERRNO) return IoError(path_ + ": read failed: " + std::strerror(errno));
    return CorruptGzip(path_, msg);
  }

  gzFile gz_ = nullptr;
};

// IDX bytes in memory (borrowed; they must outlive this). Gzipped bytes are inflated as they are
// read, as gzread does: concatenated gzip members are one stream, anything else after the last
// member is ignored.
class IdxMemory : public IdxSource {
 public:
  IdxMemory(const std::string& bytes, const std::string& name)
      : data_(reinterpret_cast<const uint8_t*>(bytes.data())) {
    path_ = name;
    file_size_ = bytes.size();
    gzipped_ = HasGzipMagic(data_, file_size_);
  }
  IdxMemory(const IdxMemory&) = delete;
  IdxMemory& operator=(const IdxMemory&) = delete;
  ~IdxMemory() override {
    if (inflating_) inflateEnd(&zs_);
  }

  Status Read(uint8_t* buf, uint64_t n, uint64_t* got) override {
    *got = 0;
    if (!gzipped_) {
      *got = std::min(n, file_size_ - pos_);
      if (*got > 0) std::memcpy(buf, data_ + pos_, *got);
      pos_ += *got;
      return Status::Ok();
    }
    if (!inflating_) {
      std::memset(&zs_, 0, sizeof(zs_));
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) {  // 16: gzip wrapper only
        return IoError(path_ + ": cannot start zlib (out of memory?)");
      }
      inflating_ = true;
    }
    while (*got < n && !ended_) {
      if (zs_.avail_in == 0 && pos_ < file_size_) {  // feed the input in uInt-sized pieces
        const uint64_t piece = std::min<uint64_t>(file_size_ - pos_, kChunkBytes);
        zs_.next_in = const_cast<Bytef*>(data_ + pos_);
        zs_.avail_in = static_cast<uInt>(piece);
        pos_ += piece;
      }
      const uint64_t want = std::min<uint64_t>(n - *got, kChunkBytes);
      zs_.next_out = buf + *got;
      zs_.avail_out = static_cast<uInt>(want);
      const int r = inflate(&zs_, Z_NO_FLUSH);
      *got += want - zs_.avail_out;
      if (r == Z_STREAM_END) {
        // Another member follows only if the rest starts with the gzip magic.
        const uint64_t rest = zs_.avail_in + (file_size_ - pos_);
        uint8_t next[2] = {0, 0};
        for (uint64_t i = 0; i < std::min<uint64_t>(rest, 2); ++i) {
          next[i] = i < zs_.avail_in ? zs_.next_in[i] : data_[pos_ + (i - zs_.avail_in)];
        }
        if (HasGzipMagic(next, rest) && inflateReset(&zs_) == Z_OK) continue;
        ended_ = true;
      } else if (r == Z_BUF_ERROR) {
        // No progress possible: avail_out > 0 here, so the input ran out mid-stream.
        return TruncatedGzip(path_);
      } else if (r != Z_OK) {
        return CorruptGzip(path_, zs_.msg);
      }
    }
    return Status::Ok();
  }

 private:
  const uint8_t* data_;
  uint64_t pos_ = 0;  // input consumed (plain) or handed to zlib (gzipped)
  z_stream zs_;
  bool inflating_ = false;
  bool ended_ = false;
};

// Reads the magic and `ndims` dimensions. `kind` ("image", "label") names the expected file.
Status ReadHeader(IdxSource& in, uint32_t want_magic, const char* kind, int ndims, uint32_t* dims) {
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
Status ReadPayload(IdxSource& in, uint64_t header_bytes, uint64_t expected,
                   const std::string& declared, std::vector<uint8_t>* out) {
  const std::string& path = in.path();
  const Status over_limit =
      expected <= kIdxMaxBytes
          ? Status::Ok()
          : InvalidArgument(path + ": the header declares " + declared + ", " +
                            std::to_string(expected) + " bytes of data, over the limit of " +
                            std::to_string(kIdxMaxBytes) + " bytes a file may hold");
  const uint64_t gzip_limit = std::max(kIdxGzipFloorBytes, kIdxGzipMaxRatio * in.file_size());
  if (in.gzipped() && !over_limit.ok()) return over_limit;
  if (in.gzipped() && expected > gzip_limit) {
    return InvalidArgument(path + ": the header declares " + declared + ", " +
                           std::to_string(expected) + " bytes of data from " +
                           std::to_string(in.file_size()) + " gzipped bytes, over the limit of " +
                           std::to_string(gzip_limit) + " (" + std::to_string(kIdxGzipMaxRatio) +
                           " times the file's size): a decompression bomb, or not IDX");
  }
  if (!in.gzipped()) {
    // The size is known: check it before allocating anything.
    uint64_t have = in.file_size() - std::min(in.file_size(), header_bytes);
    if (have < expected) {
      return DataLoss(path + ": truncated: the header declares " + declared + ", expecting " +
                      std::to_string(expected) + " bytes of data (a file of " +
                      std::to_string(header_bytes + expected) + " bytes), but the file holds " +
                      std::to_string(have) + " (it is " + std::to_string(in.file_size()) +
                      " bytes); " + kRefetchHint);
    }
    if (have > expected) {
      return DataLoss(path + ": " + std::to_string(have - expected) +
                      " trailing bytes after the data (the header declares " + declared + ", " +
                      std::to_string(expected) + " bytes); the file is corrupt or not IDX; " +
                      kRefetchHint);
    }
    HPSWEEP_RETURN_IF_ERROR(over_limit);  // a file that really holds that much
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
    return DataLoss(
        path + ": truncated: the header declares " + declared + ", expecting " +
        std::to_string(expected) + " bytes of data (" + std::to_string(header_bytes + expected) +
        " bytes decompressed), but the file holds " + std::to_string(total) +
        " (decompressed: " + std::to_string(header_bytes + total) + " bytes); " + kRefetchHint);
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

StatusOr<IdxImages> ReadImages(IdxSource& in) {
  const std::string& path = in.path();
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

StatusOr<std::vector<uint8_t>> ReadLabels(IdxSource& in) {
  uint32_t count = 0;
  HPSWEEP_RETURN_IF_ERROR(ReadHeader(in, kLabelsMagic, "label", 1, &count));
  if (count == 0) {
    return InvalidArgument(in.path() + ": the header declares 0 labels; nothing to load");
  }
  std::vector<uint8_t> labels;
  HPSWEEP_RETURN_IF_ERROR(ReadPayload(in, 8, count, std::to_string(count) + " labels", &labels));
  return labels;
}

}  // namespace

StatusOr<IdxImages> ReadIdxImages(const std::string& path) {
  IdxFile in;
  HPSWEEP_RETURN_IF_ERROR(in.Open(path));
  return ReadImages(in);
}

StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  IdxFile in;
  HPSWEEP_RETURN_IF_ERROR(in.Open(path));
  return ReadLabels(in);
}

StatusOr<IdxImages> ParseIdxImages(const std::string& bytes, const std::string& name) {
  IdxMemory in(bytes, name);
  return ReadImages(in);
}

StatusOr<std::vector<uint8_t>> ParseIdxLabels(const std::string& bytes, const std::string& name) {
  IdxMemory in(bytes, name);
  return ReadLabels(in);
}

}  // namespace hpsweep
