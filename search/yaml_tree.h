// YamlTree: a read-only document tree built from libyaml's event API, for files from untrusted
// users (sweep files). It replaces yaml-cpp, which spins forever on 2-byte inputs such as ",\n".
//
// libyaml (the C parser fuzzed upstream in OSS-Fuzz) tokenises and checks the syntax; this module
// only stacks its events into nodes, with limits that hold whatever the input:
//   - input size (YamlLimits::max_bytes, 1 MiB), checked before libyaml sees a byte;
//   - nesting depth (max_depth, 64), node count (max_nodes, 100,000, over all documents) and the
//     length of one scalar (max_scalar_bytes, 64 KiB), checked at each event;
//   - aliases and anchors are refused (no billion laughs), and so are tags (`!!str`, `!x`):
//     every scalar is plain text, as yaml-cpp's Scalar() gave it;
//   - exactly one document (an empty stream gives no root);
//   - mapping keys are non-null scalars, unique within their mapping;
//   - the text is UTF-8 (libyaml checks the encoding; the tree checks every scalar again) and no
//     scalar holds a control character other than tab and newline (a double-quoted "\0" or "\x01"
//     is refused, so no NUL reaches a C string).
// Errors are InvalidArgument "file:line: message" (line 1-based), with libyaml's problem and
// context for syntax errors; no message carries a byte of the file that is not printable UTF-8
// (EscapeText).
//
// Ownership: a YamlDocument owns all its nodes; node pointers live as long as the document (moving
// the document keeps them valid).
// Thread-safety: ParseYaml is reentrant (one libyaml parser per call); a YamlDocument is immutable
// once returned and may be read from several threads.
#ifndef HPSWEEP_SEARCH_YAML_TREE_H_
#define HPSWEEP_SEARCH_YAML_TREE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/utf8.h"

namespace hpsweep {

struct YamlLimits {
  size_t max_bytes = size_t{1} << 20;          // of the whole input
  int max_depth = 64;                          // nested mappings and sequences
  size_t max_nodes = 100000;                   // scalars, mappings and sequences, keys included
  size_t max_scalar_bytes = size_t{64} << 10;  // of one scalar's text
};

enum class YamlKind { kScalar, kSequence, kMapping };

struct YamlNode {
  YamlKind kind = YamlKind::kScalar;
  int line = 0;       // 1-based, where the node starts (an empty value: where libyaml noticed it)
  int column = 0;     // 1-based, in characters
  std::string text;   // scalars: the value, quotes and escapes resolved
  bool plain = true;  // scalars: written without quotes or a block indicator (| >)
  std::vector<const YamlNode*> items;                                // sequences, in file order
  std::vector<std::pair<const YamlNode*, const YamlNode*>> entries;  // mappings: key, value

  bool IsMapping() const { return kind == YamlKind::kMapping; }
  bool IsSequence() const { return kind == YamlKind::kSequence; }
  // Null as yaml-cpp and the YAML core schema read it: a plain scalar "", "~", "null", "Null" or
  // "NULL" (a missing value, `key:`, is an empty plain scalar). A quoted "null" is text.
  bool IsNull() const;
  // A scalar that is not null.
  bool IsScalar() const { return kind == YamlKind::kScalar && !IsNull(); }
};

// "a mapping", "a list", "a single value" or "nothing" (null), for messages.
const char* YamlTypeName(const YamlNode& node);

class YamlDocument {
 public:
  YamlDocument() : nodes_(std::make_unique<std::deque<YamlNode>>()) {}
  // The document's root, or nullptr for a stream without a document (empty, or comments only).
  const YamlNode* root() const { return root_; }
  size_t node_count() const { return nodes_->size(); }

 private:
  friend class YamlBuilder;
  std::unique_ptr<std::deque<YamlNode>> nodes_;  // a deque: appending keeps pointers valid
  const YamlNode* root_ = nullptr;
};

// Parses `text` into a tree under `limits`. file_name is used in messages only.
StatusOr<YamlDocument> ParseYaml(std::string_view text, const std::string& file_name,
                                 const YamlLimits& limits = YamlLimits());

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_YAML_TREE_H_
