// A preloaded shim for hpsweep_lease_bench --scale: counts the SQLite transactions a coordinator
// process commits, without changing the coordinator. It wraps sqlite3_open_v2 and installs a
// commit hook on every connection opened; each commit adds one to a 64-bit counter kept in the
// file named by $HPSWEEP_COMMIT_COUNTER (mapped shared, so the bench reads it while the process
// runs). Without that variable it only passes the call through.
//
//   LD_PRELOAD=libhpsweep_commit_counter.so HPSWEEP_COMMIT_COUNTER=/tmp/n hpsweep coordinator ...
//
// Thread-safety: the hook runs on whichever thread commits; the counter is incremented atomically.
#include <dlfcn.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

uint64_t* counter = nullptr;

int CountCommit(void*) {
  __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
  return 0;  // 0: let the commit go ahead
}

void MapCounter() {
  const char* path = getenv("HPSWEEP_COMMIT_COUNTER");
  if (counter != nullptr || path == nullptr) return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (ftruncate(fd, sizeof(uint64_t)) == 0) {
    void* p = mmap(nullptr, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) counter = static_cast<uint64_t*>(p);
  }
  close(fd);
}

}  // namespace

extern "C" int sqlite3_open_v2(const char* filename, sqlite3** db, int flags, const char* vfs) {
  typedef int (*OpenFn)(const char*, sqlite3**, int, const char*);
  OpenFn real = reinterpret_cast<OpenFn>(dlsym(RTLD_NEXT, "sqlite3_open_v2"));
  if (real == nullptr) return SQLITE_ERROR;
  int rc = real(filename, db, flags, vfs);
  MapCounter();
  if (rc == SQLITE_OK && counter != nullptr && *db != nullptr) {
    sqlite3_commit_hook(*db, CountCommit, nullptr);
  }
  return rc;
}
