// OpenSqliteStorage: what a path holds before SQLite touches it, making a new database so that no
// reader ever sees a half-made file, and opening an existing one. The SQLite implementation
// itself is SqliteStorage (coordinator/store/sqlite_storage.h; queries in sqlite_storage.cc,
// schema and migrations in migrations.cc).
#include "coordinator/store/storage.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "base/file_io.h"
#include "coordinator/store/sqlite_storage.h"

namespace hpsweep {

StatusOr<std::vector<TrialRow>> Storage::LoadTrialsAfter(int64_t sweep_id, int after_number,
                                                         int limit) {
  auto all = LoadTrials(sweep_id);
  if (!all.ok()) return all.status();
  std::vector<TrialRow> out;
  for (TrialRow& t : *all) {
    if (t.number <= after_number) continue;
    if (static_cast<int>(out.size()) >= limit) break;
    out.push_back(std::move(t));
  }
  return out;
}

std::string FolderNote(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  if (access(dir.c_str(), W_OK) == 0) return "";
  return "; its folder " + dir + " is not writable for this user, and SQLite needs to create " +
         path + "-wal and " + path + "-shm beside it";
}

namespace {

const char kRemoveHint[] = "; remove it or pick another --db";
const char kRestoreHint[] = "; restore it from a backup or pick another --db";

uint32_t BigEndian(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

// " (beside it, path-wal holds N bytes ...)" when a non-empty write-ahead log is there.
std::string WalNote(const std::string& path) {
  struct stat st;
  if (stat((path + "-wal").c_str(), &st) != 0 || st.st_size == 0) return "";
  return " (beside it, " + path + "-wal holds " + std::to_string(st.st_size) +
         " bytes: recent writes of the database that was there; keep both files to recover it)";
}

// What an existing file is, read before SQLite touches it (SQLite takes an empty or short file
// for a new database and writes a schema into it). Ok: it looks like an SQLite database.
Status CheckExistingFile(const std::string& path, const struct stat& st) {
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgument(path + ": a folder, not an hpsweep database; pick another --db");
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path + ": not a regular file, not an hpsweep database" + kRemoveHint);
  }
  const int64_t size = st.st_size;
  if (size == 0) {
    return InvalidArgument(path + ": an empty file, not an hpsweep database" + WalNote(path) +
                           kRemoveHint);
  }
  std::string head(100, '\0');
  {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError(path + ": cannot read: " + std::strerror(errno));
    const ssize_t n = pread(fd, &head[0], head.size(), 0);
    const int e = errno;
    close(fd);
    if (n < 0) return IoError(path + ": cannot read: " + std::strerror(e));
    head.resize(static_cast<size_t>(n));
  }
  static const char kMagic[] = "SQLite format 3";  // and its '\0': 16 bytes
  if (head.size() < sizeof(kMagic) || head.compare(0, sizeof(kMagic), kMagic, sizeof(kMagic))) {
    return InvalidArgument(path + ": not an SQLite file (" + std::to_string(size) +
                           " bytes), not an hpsweep database" + kRemoveHint);
  }
  const std::string damaged = path + ": a damaged SQLite database: ";
  if (size < 100) {
    return DataLoss(damaged + "truncated to " + std::to_string(size) +
                    " bytes, shorter than its 100-byte header" + WalNote(path) + kRestoreHint);
  }
  uint32_t page = BigEndian(head, 16, 2);
  if (page == 1) page = 65536;
  if (page < 512 || (page & (page - 1)) != 0) {
    return DataLoss(damaged + "its header names a page size of " + std::to_string(page) + " bytes" +
                    kRestoreHint);
  }
  if (size % page != 0) {
    return DataLoss(damaged + std::to_string(size) + " bytes is not a whole number of its " +
                    std::to_string(page) + "-byte pages (truncated?)" + WalNote(path) +
                    kRestoreHint);
  }
  // The page count in the header is valid when its change counter matches (SQLite 3.7.0+).
  // Not checked while a WAL is there: a checkpoint cut short writes page 1 (and its count)
  // before the pages after it, and SQLite completes it from the WAL.
  const uint32_t pages = BigEndian(head, 28, 4);
  if (pages > 0 && BigEndian(head, 24, 4) == BigEndian(head, 92, 4) &&
      size < static_cast<int64_t>(pages) * page && WalNote(path).empty()) {
    return DataLoss(damaged + "truncated to " + std::to_string(size) + " bytes, its header says " +
                    std::to_string(pages) + " pages of " + std::to_string(page) + " bytes" +
                    WalNote(path) + kRestoreHint);
  }
  return Status::Ok();
}

// Opens file (messages name `path`) and runs Init.
StatusOr<std::unique_ptr<SqliteStorage>> OpenFile(const std::string& path, const std::string& file,
                                                  const StorageOptions& options, bool creating) {
  sqlite3* db = nullptr;
  // NOMUTEX: the caller serialises every call (see storage.h), so SQLite's own mutex is waste.
  const int flags = (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                    SQLITE_OPEN_NOMUTEX | (creating ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(CodeFor(rc), path + (creating ? ": cannot create: " : ": cannot open: ") + msg +
                                   FolderNote(path));
  }
  auto storage = std::make_unique<SqliteStorage>(path, db);
  HPSWEEP_RETURN_IF_ERROR(storage->Init(options, creating));
  return storage;
}

void RemoveWithSideFiles(const std::string& file) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) unlink((file + suffix).c_str());
}

// A new database at path, which does not exist: made complete under a temporary name, closed
// (which checkpoints and removes its -wal), then hard-linked into place. link() fails if path
// appeared meanwhile, so two processes creating the same path both end up opening one database,
// and a crash leaves either nothing at path or a whole database, never an empty file.
Status CreateDatabase(const std::string& path, const StorageOptions& options) {
  const std::string tmp = path + ".new." + std::to_string(getpid());
  RemoveWithSideFiles(tmp);
  {
    auto made = OpenFile(path, tmp, options, /*creating=*/true);
    if (!made.ok()) {
      RemoveWithSideFiles(tmp);
      return made.status();
    }
  }
  // Owner only: the database holds live lease ids (a worker's only credential) and every
  // result. SQLite gives its -wal and -shm files the database's own mode.
  if (chmod(tmp.c_str(), 0600) != 0) {
    const int e = errno;
    RemoveWithSideFiles(tmp);
    return IoError(path + ": cannot create: chmod 0600: " + std::strerror(e));
  }
  struct stat st;
  if (stat((tmp + "-wal").c_str(), &st) == 0 && st.st_size > 0) {
    RemoveWithSideFiles(tmp);
    return IoError(path +
                   ": cannot create: SQLite left the write-ahead log of the new database "
                   "behind on close");
  }
  if (link(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    RemoveWithSideFiles(tmp);
    if (e == EEXIST) return Status::Ok();  // another process made it first: open theirs
    return IoError(path + ": cannot create: " + std::strerror(e));
  }
  RemoveWithSideFiles(tmp);
  SyncFolderOf(path);  // the new name must survive a power loss as the commits after it will
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Storage>> OpenSqliteStorage(const std::string& path,
                                                     const StorageOptions& options) {
  if (path.empty() || path == ":memory:") {
    auto memory = OpenFile(":memory:", ":memory:", options, /*creating=*/true);
    if (!memory.ok()) return memory.status();
    return std::unique_ptr<Storage>(std::move(*memory));
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return IoError(path + ": cannot open: " + std::strerror(errno));
    if (options.read_only) return NotFound(path + ": no such database file");
    // A log without its database: starting afresh would throw those writes away.
    struct stat wal;
    if (stat((path + "-wal").c_str(), &wal) == 0 && wal.st_size > 0) {
      return FailedPrecondition(path + ": no such file, but " + path + "-wal (" +
                                std::to_string(wal.st_size) +
                                " bytes) is there: the write-ahead log of a database that was "
                                "moved or deleted; restore " +
                                path + ", or remove " + path + "-wal to start a new database");
    }
    HPSWEEP_RETURN_IF_ERROR(CreateDatabase(path, options));
    if (stat(path.c_str(), &st) != 0) {
      return IoError(path + ": cannot open the new database: " + std::strerror(errno));
    }
  }
  HPSWEEP_RETURN_IF_ERROR(CheckExistingFile(path, st));
  auto storage = OpenFile(path, path, options, /*creating=*/false);
  if (!storage.ok()) return storage.status();
  return std::unique_ptr<Storage>(std::move(*storage));
}

}  // namespace hpsweep
