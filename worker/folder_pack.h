// A program trial's checkpoint folder as one string of bytes and back (docs/programs.md,
// "Resuming"): the regular files and folders under a folder, in the worker's own small format
// (a magic header, one entry per folder or file in name order, an end mark). Links, FIFOs,
// sockets and devices are left out and never followed; folders nest at most kMaxPackDepth deep.
// Every name is checked (not "", ".", "..", no '/', no NUL, valid UTF-8), on both sides.
//
// Unpacking reads hostile bytes (a checkpoint stored by the coordinator for a trial whose program
// anyone could have written): it is bounded (max_bytes of file content, kMaxPackEntries entries),
// checks every length before it reads, opens every folder without following links and creates
// every file exclusively, so it never writes outside its folder nor through a link.
//
// Thread-safety: free functions; safe on different folders from any thread.
#ifndef HPSWEEP_WORKER_FOLDER_PACK_H_
#define HPSWEEP_WORKER_FOLDER_PACK_H_

#include <cstddef>
#include <string>

#include "base/status.h"

namespace hpsweep {

constexpr int kMaxPackDepth = 8;           // folders below the packed folder
constexpr size_t kMaxPackEntries = 10000;  // files and folders
constexpr size_t kMaxPackNameBytes = 255;  // one name

// The files and folders under dir, packed. InvalidArgument naming the limit when the files hold
// more than max_bytes in all, or there are too many entries or folders nested too deep, or a
// name is bad; IoError when dir or a file in it cannot be read.
StatusOr<std::string> PackFolder(const std::string& dir, size_t max_bytes);

// Writes what PackFolder packed into dir (made, mode 0700, if missing; what it holds already
// stays, and an entry of the same name is refused). Folders get mode 0700, files 0600.
// DataLoss for bytes that are not a packed folder (a wrong header, truncated, trailing bytes);
// InvalidArgument for a bad name or path, or more than max_bytes of files; IoError when writing
// fails. On an error dir may hold part of it: the caller removes it.
Status UnpackFolder(const std::string& packed, const std::string& dir, size_t max_bytes);

// A cheap stand-in for what PackFolder would give: the names, sizes, modification and change
// times and inodes of the same entries, read without reading the files. "" when dir holds
// nothing to pack. A file written or renamed into place changes it. Errors as PackFolder's.
StatusOr<std::string> FolderStamp(const std::string& dir, size_t max_bytes);

}  // namespace hpsweep

#endif  // HPSWEEP_WORKER_FOLDER_PACK_H_
