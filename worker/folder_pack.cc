// Checkpoint folders packed and unpacked (worker/folder_pack.h).
//
// The format: "HPSWFLD1", then one entry per folder or file, parents before what they hold:
//   'D' u16 path-length path                 a folder
//   'F' u16 path-length path u64 size bytes  a regular file
// then 'E' and nothing after it. Integers are little-endian; a path is names joined by '/'.
#include "worker/folder_pack.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "base/utf8.h"
#include "worker/unique_fd.h"

namespace hpsweep {

namespace {

constexpr char kMagic[] = "HPSWFLD1";
constexpr size_t kMagicBytes = 8;
constexpr size_t kMaxPathBytes = 4096;

bool IsGoodName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxPackNameBytes && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos &&
         IsValidUtf8(name);
}

void PutInt(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutEntry(char kind, const std::string& path, std::string* out) {
  out->push_back(kind);
  PutInt(path.size(), 2, out);
  out->append(path);
}

// One walk over a folder: packing (content) or stamping (stat only).
struct Walk {
  std::string dir;  // for messages
  bool content = false;
  size_t max_bytes = 0;
  size_t total = 0;
  size_t entries = 0;
  std::string out;

  Status OverLimit() const {
    return InvalidArgument("checkpoint folder " + dir + " is over the limit of " +
                           std::to_string(max_bytes) + " bytes");
  }
};

// The names in the folder open at dfd, sorted, without "." and "..".
StatusOr<std::vector<std::string>> Names(int dfd, const std::string& what) {
  const int fd = dup(dfd);
  DIR* d = fd < 0 ? nullptr : fdopendir(fd);
  if (d == nullptr) {
    if (fd >= 0) close(fd);
    return IoError("cannot read folder " + what + ": " + Errno());
  }
  rewinddir(d);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
    if (names.size() > kMaxPackEntries) break;
  }
  closedir(d);
  if (names.size() > kMaxPackEntries) {
    return InvalidArgument("checkpoint folder " + what + " holds more than " +
                           std::to_string(kMaxPackEntries) + " entries");
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Appends the regular file `name` in dfd to w->out ('F' entry). A file that is no longer a
// regular file, or has gone, is left out.
Status PackFile(int dfd, const std::string& name, const std::string& path, Walk* w) {
  UniqueFd fd(openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.ok()) {
    if (errno == ENOENT || errno == ELOOP) return Status::Ok();
    return IoError("cannot open " + w->dir + "/" + EscapeText(path) + ": " + Errno());
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Status::Ok();
  const size_t room = w->max_bytes - w->total;
  std::string bytes;
  char buf[65536];
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read " + w->dir + "/" + EscapeText(path) + ": " + Errno());
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > room) return w->OverLimit();
    bytes.append(buf, static_cast<size_t>(n));
  }
  w->total += bytes.size();
  PutEntry('F', path, &w->out);
  PutInt(bytes.size(), 8, &w->out);
  w->out.append(bytes);
  return Status::Ok();
}

Status WalkFolder(int dfd, const std::string& rel, int depth, Walk* w) {
  StatusOr<std::vector<std::string>> names = Names(dfd, w->dir + (rel.empty() ? "" : "/" + rel));
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    const std::string path = rel.empty() ? name : rel + "/" + name;
    if (!IsGoodName(name)) {
      return InvalidArgument("checkpoint folder " + w->dir + ": bad name " + EscapeText(path));
    }
    struct stat st;
    if (fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return IoError("cannot stat " + w->dir + "/" + EscapeText(path) + ": " + Errno());
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;  // links and the like
    if (++w->entries > kMaxPackEntries || path.size() > kMaxPathBytes) {
      return InvalidArgument("checkpoint folder " + w->dir + " holds more than " +
                             std::to_string(kMaxPackEntries) + " entries or too long a path");
    }
    if (S_ISREG(st.st_mode)) {
      if (w->content) {
        HPSWEEP_RETURN_IF_ERROR(PackFile(dfd, name, path, w));
        continue;
      }
      w->total += static_cast<size_t>(st.st_size);
      if (w->total > w->max_bytes) return w->OverLimit();
      PutEntry('F', path, &w->out);
      for (int64_t v : {static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_ino),
                        static_cast<int64_t>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec,
                        static_cast<int64_t>(st.st_ctim.tv_sec), st.st_ctim.tv_nsec}) {
        PutInt(static_cast<uint64_t>(v), 8, &w->out);
      }
      continue;
    }
    if (depth >= kMaxPackDepth) {
      return InvalidArgument("checkpoint folder " + w->dir + ": folders nested deeper than " +
                             std::to_string(kMaxPackDepth) + " (" + EscapeText(path) + ")");
    }
    PutEntry('D', path, &w->out);
    UniqueFd child(openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child.ok()) {
      if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) continue;
      return IoError("cannot open " + w->dir + "/" + EscapeText(path) + ": " + Errno());
    }
    HPSWEEP_RETURN_IF_ERROR(WalkFolder(child.get(), path, depth + 1, w));
  }
  return Status::Ok();
}

StatusOr<std::string> RunWalk(const std::string& dir, size_t max_bytes, bool content) {
  UniqueFd root(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.ok()) return IoError("cannot open checkpoint folder " + dir + ": " + Errno());
  Walk w;
  w.dir = dir;
  w.content = content;
  w.max_bytes = max_bytes;
  HPSWEEP_RETURN_IF_ERROR(WalkFolder(root.get(), "", 0, &w));
  return std::move(w.out);
}

// Reads a packed folder, every length checked against what is left.
struct Reader {
  std::string_view in;
  size_t pos = 0;

  bool Int(int bytes, uint64_t* v) {
    if (in.size() - pos < static_cast<size_t>(bytes)) return false;
    *v = 0;
    for (int i = 0; i < bytes; ++i) {
      *v |= static_cast<uint64_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
    }
    pos += static_cast<size_t>(bytes);
    return true;
  }
  bool Bytes(uint64_t n, std::string_view* out) {
    if (in.size() - pos < n) return false;
    *out = in.substr(pos, static_cast<size_t>(n));
    pos += static_cast<size_t>(n);
    return true;
  }
};

// The names of a packed path, each checked; at most max_names of them.
bool SplitPath(std::string_view path, size_t max_names, std::vector<std::string>* names) {
  names->clear();
  while (true) {
    const size_t slash = path.find('/');
    const std::string_view name = path.substr(0, slash);
    if (!IsGoodName(name) || names->size() == max_names) return false;
    names->emplace_back(name);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

// The folder that holds the last of names, opened from root without following links.
StatusOr<UniqueFd> OpenParent(int root, const std::vector<std::string>& names) {
  UniqueFd dir(dup(root));
  for (size_t i = 0; i + 1 < names.size() && dir.ok(); ++i) {
    dir = UniqueFd(
        openat(dir.get(), names[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!dir.ok()) return DataLoss("checkpoint: a folder of the packed folder is missing");
  return StatusOr<UniqueFd>(std::move(dir));
}

Status WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("checkpoint: write failed: " + Errno());
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// One 'D' or 'F' entry of r, written under root; *total counts the file bytes so far.
Status UnpackEntry(char kind, Reader* r, int root, size_t max_bytes, size_t* total) {
  uint64_t len = 0;
  std::string_view path;
  if (!r->Int(2, &len) || !r->Bytes(len, &path)) return DataLoss("checkpoint: truncated");
  std::vector<std::string> names;
  if (!SplitPath(path, kind == 'D' ? kMaxPackDepth : kMaxPackDepth + 1, &names)) {
    return InvalidArgument("checkpoint: bad path " + EscapeText(path));
  }
  StatusOr<UniqueFd> parent = OpenParent(root, names);
  if (!parent.ok()) return parent.status();
  const char* name = names.back().c_str();
  if (kind == 'D') {
    if (mkdirat(parent->get(), name, 0700) != 0) {
      return IoError("checkpoint: cannot make folder " + EscapeText(path) + ": " + Errno());
    }
    return Status::Ok();
  }
  uint64_t size = 0;
  std::string_view bytes;
  if (!r->Int(8, &size)) return DataLoss("checkpoint: truncated");
  if (size > max_bytes - *total) {
    return InvalidArgument("checkpoint is over the limit of " + std::to_string(max_bytes) +
                           " bytes");
  }
  if (!r->Bytes(size, &bytes)) return DataLoss("checkpoint: truncated");
  *total += static_cast<size_t>(size);
  UniqueFd fd(openat(parent->get(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0600));
  if (!fd.ok()) {
    return IoError("checkpoint: cannot create " + EscapeText(path) + ": " + Errno());
  }
  return WriteAll(fd.get(), bytes);
}

}  // namespace

StatusOr<std::string> PackFolder(const std::string& dir, size_t max_bytes) {
  StatusOr<std::string> body = RunWalk(dir, max_bytes, /*content=*/true);
  if (!body.ok()) return body.status();
  std::string out(kMagic, kMagicBytes);
  out += *body;
  out.push_back('E');
  return out;
}

StatusOr<std::string> FolderStamp(const std::string& dir, size_t max_bytes) {
  return RunWalk(dir, max_bytes, /*content=*/false);
}

Status UnpackFolder(const std::string& packed, const std::string& dir, size_t max_bytes) {
  if (packed.compare(0, kMagicBytes, kMagic, kMagicBytes) != 0) {
    return DataLoss("checkpoint: not a packed folder");
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError("cannot make checkpoint folder " + dir + ": " + Errno());
  }
  UniqueFd root(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.ok()) return IoError("cannot open checkpoint folder " + dir + ": " + Errno());
  Reader r{packed, kMagicBytes};
  size_t total = 0;
  for (size_t entries = 0;; ++entries) {
    uint64_t kind = 0;
    if (!r.Int(1, &kind)) return DataLoss("checkpoint: truncated");
    if (kind == 'E') break;
    if (kind != 'D' && kind != 'F') return DataLoss("checkpoint: not a packed folder");
    if (entries == kMaxPackEntries) {
      return InvalidArgument("checkpoint holds more than " + std::to_string(kMaxPackEntries) +
                             " entries");
    }
    HPSWEEP_RETURN_IF_ERROR(
        UnpackEntry(static_cast<char>(kind), &r, root.get(), max_bytes, &total));
  }
  if (r.pos != packed.size()) return DataLoss("checkpoint: bytes after its end");
  return Status::Ok();
}

}  // namespace hpsweep
