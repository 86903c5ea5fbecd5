// Fuzz target: packed checkpoint folders (worker/folder_pack.h), bytes that come from another
// worker through the coordinator. Each input is unpacked (limit 1 MiB) into a fresh folder `a`
// inside a temporary folder of this process's own; then:
//   - nothing but `a` appeared beside it, and `a` holds only folders (mode within 0700) and
//     regular files (within 0600): no links, nothing written outside it, whatever the result;
//   - when it unpacked, PackFolder of `a` succeeds, holds exactly the input's entries (so the
//     same size: it may only put them in name order), and unpacks into `b` to a folder that
//     packs to the same bytes (the round trip).
// Both folders are removed after each input.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <system_error>

#include "worker/folder_pack.h"

namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxBytes = 1 << 20;

void Check(bool ok) {
  if (!ok) std::abort();
}

// This process's own temporary folder, made once and removed at exit (empty by then: each input
// removes what it made). A plain array, so that it outlives every destructor run at exit.
char g_parent[4096];

void RemoveParent() { rmdir(g_parent); }

const fs::path& Parent() {
  static const fs::path parent = [] {
    std::error_code ec;
    const std::string tmpl =
        (fs::temp_directory_path(ec) / "hpsweep-folder-fuzz.XXXXXX").string();
    Check(tmpl.size() < sizeof g_parent);
    tmpl.copy(g_parent, tmpl.size());
    Check(mkdtemp(g_parent) != nullptr);
    std::atexit(RemoveParent);
    return fs::path(g_parent);
  }();
  return parent;
}

// The parent holds exactly the names given (each there or not), and each of those only folders
// and regular files with no group or other permissions.
void CheckTree(std::initializer_list<const char*> allowed) {
  for (const fs::directory_entry& e : fs::directory_iterator(Parent())) {
    const std::string name = e.path().filename().string();
    bool ok = false;
    for (const char* a : allowed) ok = ok || name == a;
    Check(ok);
    Check(e.is_directory() && !e.is_symlink());
    for (const fs::directory_entry& f : fs::recursive_directory_iterator(e.path())) {
      struct stat st;
      Check(lstat(f.path().c_str(), &st) == 0);
      if (S_ISDIR(st.st_mode)) {
        Check((st.st_mode & 07777 & ~0700) == 0);
      } else {
        Check(S_ISREG(st.st_mode) && (st.st_mode & 07777 & ~0600) == 0);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string packed(reinterpret_cast<const char*>(data), size);
  const fs::path a = Parent() / "a", b = Parent() / "b";
  const hpsweep::Status unpacked = hpsweep::UnpackFolder(packed, a.string(), kMaxBytes);
  CheckTree({"a"});
  if (unpacked.ok()) {
    hpsweep::StatusOr<std::string> again = hpsweep::PackFolder(a.string(), kMaxBytes);
    Check(again.ok() && again->size() == packed.size());
    Check(hpsweep::UnpackFolder(*again, b.string(), kMaxBytes).ok());
    CheckTree({"a", "b"});
    hpsweep::StatusOr<std::string> round = hpsweep::PackFolder(b.string(), kMaxBytes);
    Check(round.ok() && *round == *again);
  }
  std::error_code ec;
  fs::remove_all(a, ec);
  fs::remove_all(b, ec);
  Check(fs::is_empty(Parent(), ec));
  return 0;
}
