#include "search/yaml_tree.h"

#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "base/utf8.h"

namespace hpsweep {
namespace {

// The 1-based line of byte `offset` of `text`.
int LineAtOffset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

// Owns a libyaml parser, so that every path out of the builder releases it.
class LibyamlParser {
 public:
  LibyamlParser() { ok_ = yaml_parser_initialize(&parser_) != 0; }
  ~LibyamlParser() {
    if (ok_) yaml_parser_delete(&parser_);
  }
  LibyamlParser(const LibyamlParser&) = delete;
  LibyamlParser& operator=(const LibyamlParser&) = delete;
  bool ok() const { return ok_; }
  yaml_parser_t* get() { return &parser_; }

 private:
  yaml_parser_t parser_;
  bool ok_ = false;
};

// Owns one event.
class Event {
 public:
  Event() = default;
  ~Event() { yaml_event_delete(&event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  yaml_event_t* get() { return &event_; }
  const yaml_event_t& operator*() const { return event_; }

 private:
  yaml_event_t event_{};
};

}  // namespace

bool YamlNode::IsNull() const {
  return kind == YamlKind::kScalar && plain &&
         (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL");
}

const char* YamlTypeName(const YamlNode& node) {
  switch (node.kind) {
    case YamlKind::kMapping: return "a mapping";
    case YamlKind::kSequence: return "a list";
    case YamlKind::kScalar: return node.IsNull() ? "nothing" : "a single value";
  }
  return "nothing";
}

// Stacks libyaml's events into a YamlDocument, checking the limits at each one.
class YamlBuilder {
 public:
  YamlBuilder(std::string_view text, const std::string& file, const YamlLimits& limits)
      : text_(text), file_(file), limits_(limits) {}

  StatusOr<YamlDocument> Run();

 private:
  StatusOr<YamlDocument> Build();
  // An open mapping or sequence.
  struct Frame {
    YamlNode* node = nullptr;
    // How it was reached from the frame below: the key of its entry, or its item number (1-based).
    // Messages name places from these only when they need to: building a path string for every
    // container would cost depth x key length each time.
    const YamlNode* via_key = nullptr;
    size_t via_item = 0;
    const YamlNode* key = nullptr;    // mappings: the key whose value comes next
    std::map<std::string, int> keys;  // mappings: key text -> line, for duplicates
  };

  Status Err(int line, const std::string& message) const {
    const std::string file = EscapeText(file_);
    if (line <= 0) return InvalidArgument(file + ": " + EscapeText(message));
    return InvalidArgument(file + ":" + std::to_string(line) + ": " + EscapeText(message));
  }
  Status SyntaxError(yaml_parser_t* parser) const;
  // A new node of `kind` at the event's start, counted against max_nodes.
  StatusOr<YamlNode*> NewNode(YamlKind kind, const yaml_event_t& event);
  // Anchors, aliases and tags are refused wherever they appear.
  Status CheckProperties(const yaml_char_t* anchor, const yaml_char_t* tag, int line) const;
  // The dotted path of stack_[i] ("fixed", "trials[2]", "" for the root).
  std::string PathOf(size_t i) const;
  // How messages name stack_[i], as sweep_file.cc names its sections: "the top level", "'fixed'",
  // "item 2 of 'trials'".
  std::string WhereOf(size_t i) const;
  // How messages name a scalar added now to the innermost open container.
  std::string ChildName() const;
  // Adds a finished scalar or a just-opened container to its parent (or as the document root).
  Status Attach(YamlNode* node);

  std::string_view text_;
  const std::string& file_;
  const YamlLimits& limits_;
  YamlDocument doc_;
  std::vector<Frame> stack_;
  int documents_ = 0;
  int second_root_line_ = 0;  // the line of the second document's root, for the message
  // The first byte that is not UTF-8, if any. The text is then parsed with every such byte
  // replaced by 'x', only to name the key whose value holds it.
  size_t bad_offset_ = std::string_view::npos;
  unsigned char bad_byte_ = 0;
  bool named_bad_byte_ = false;      // Build() met the bad byte in a scalar and named its place
  std::vector<size_t> line_starts_;  // byte offset of each line, when bad_offset_ is set

  // The byte offset of a libyaml mark (whose column counts characters).
  size_t OffsetOf(const yaml_mark_t& mark) const;
  Status NotUtf8(const std::string& what) const;
};

size_t YamlBuilder::OffsetOf(const yaml_mark_t& mark) const {
  if (mark.line >= line_starts_.size()) return text_.size();
  size_t i = line_starts_[mark.line];
  for (size_t c = 0; c < mark.column && i < text_.size(); ++c) {
    const size_t n = Utf8Length(text_, i);
    i += n == 0 ? 1 : n;
  }
  return i;
}

Status YamlBuilder::NotUtf8(const std::string& what) const {
  return Err(LineAtOffset(text_, bad_offset_), (what.empty() ? "" : what + ": ") +
                                                   "not valid UTF-8 text (byte " + Hex(bad_byte_) +
                                                   "); the file must be UTF-8 text");
}

Status YamlBuilder::SyntaxError(yaml_parser_t* p) const {
  const std::string problem = p->problem != nullptr ? p->problem : "unknown error";
  switch (p->error) {
    case YAML_MEMORY_ERROR: return Err(0, "malformed YAML: out of memory while parsing");
    case YAML_READER_ERROR: {
      // Encoding errors carry a byte offset, not a mark.
      const bool utf8 = problem.find("UTF-8") != std::string::npos;
      std::string detail;
      if (p->problem_value >= 0) {
        char buf[32];
        if (utf8) {
          std::snprintf(buf, sizeof buf, " (byte 0x%02x)", p->problem_value & 0xFF);
        } else {
          std::snprintf(buf, sizeof buf, " (U+%04X)", static_cast<unsigned>(p->problem_value));
        }
        detail = buf;
      }
      return Err(
          LineAtOffset(text_, p->problem_offset),
          "malformed YAML: " + problem + detail + (utf8 ? "; the file must be UTF-8 text" : ""));
    }
    default: {
      std::string message = "malformed YAML: " + problem;
      if (p->context != nullptr) {
        message += " (" + std::string(p->context) + " on line " +
                   std::to_string(p->context_mark.line + 1) + ", column " +
                   std::to_string(p->context_mark.column + 1) + ")";
      }
      const std::string file = EscapeText(file_);
      return InvalidArgument(file + ":" + std::to_string(p->problem_mark.line + 1) + ":" +
                             std::to_string(p->problem_mark.column + 1) + ": " +
                             EscapeText(message));
    }
  }
}

StatusOr<YamlNode*> YamlBuilder::NewNode(YamlKind kind, const yaml_event_t& event) {
  const int line = static_cast<int>(event.start_mark.line) + 1;
  if (doc_.nodes_->size() >= limits_.max_nodes) {
    return Err(line, "more than " + std::to_string(limits_.max_nodes) +
                         " YAML values, over the limit for one file");
  }
  doc_.nodes_->emplace_back();
  YamlNode* node = &doc_.nodes_->back();
  node->kind = kind;
  node->line = line;
  node->column = static_cast<int>(event.start_mark.column) + 1;
  return node;
}

Status YamlBuilder::CheckProperties(const yaml_char_t* anchor, const yaml_char_t* tag,
                                    int line) const {
  if (anchor != nullptr) {
    return Err(line, "anchors (&" + std::string(reinterpret_cast<const char*>(anchor)) +
                         ") are not supported; write the value out");
  }
  if (tag != nullptr) {
    return Err(line, "tags (" + std::string(reinterpret_cast<const char*>(tag)) +
                         ") are not supported; write the value alone");
  }
  return Status::Ok();
}

std::string YamlBuilder::PathOf(size_t i) const {
  std::string path;
  for (size_t k = 1; k <= i; ++k) {  // stack_[0] is the root
    const Frame& f = stack_[k];
    if (f.via_key != nullptr) {
      path += (path.empty() ? "" : ".") + f.via_key->text;
    } else {
      path += "[" + std::to_string(f.via_item) + "]";
    }
  }
  return path;
}

std::string YamlBuilder::WhereOf(size_t i) const {
  if (i == 0) return "the top level";
  if (stack_[i].via_key == nullptr) {
    return "item " + std::to_string(stack_[i].via_item) + " of " + WhereOf(i - 1);
  }
  return "'" + PathOf(i) + "'";
}

std::string YamlBuilder::ChildName() const {
  if (stack_.empty()) return "";
  const size_t top = stack_.size() - 1;
  const Frame& f = stack_[top];
  if (f.node->IsSequence()) {
    return "item " + std::to_string(f.node->items.size() + 1) + " of " + WhereOf(top);
  }
  if (f.key == nullptr) return "a key at " + WhereOf(top);
  const std::string path = PathOf(top);
  return "key '" + path + (path.empty() ? "" : ".") + f.key->text + "'";
}

Status YamlBuilder::Attach(YamlNode* node) {
  if (stack_.empty()) {
    if (documents_ == 1) doc_.root_ = node;
    if (documents_ == 2) second_root_line_ = node->line;
    return Status::Ok();
  }
  Frame& f = stack_.back();
  if (f.node->IsSequence()) {
    f.node->items.push_back(node);
    return Status::Ok();
  }
  if (f.key != nullptr) {
    f.node->entries.emplace_back(f.key, node);
    f.key = nullptr;
    return Status::Ok();
  }
  // A key.
  const std::string where = WhereOf(stack_.size() - 1);
  if (!node->IsScalar()) {
    return Err(node->line, "expected a key at " + where + ", got " + YamlTypeName(*node));
  }
  auto [prev, inserted] = f.keys.emplace(node->text, node->line);
  if (!inserted) {
    return Err(node->line, "key '" + node->text + "' appears twice at " + where +
                               " (first on line " + std::to_string(prev->second) + ")");
  }
  f.key = node;
  return Status::Ok();
}

StatusOr<YamlDocument> YamlBuilder::Run() {
  if (text_.size() > limits_.max_bytes) {
    return Err(0, "the file is " + std::to_string(text_.size()) + " bytes, over the limit of " +
                      std::to_string(limits_.max_bytes));
  }
  std::string sanitized;
  for (size_t i = 0; i < text_.size();) {
    const size_t n = Utf8Length(text_, i);
    if (n == 0 && bad_offset_ == std::string_view::npos) {
      bad_offset_ = i;
      bad_byte_ = static_cast<unsigned char>(text_[i]);
      sanitized.assign(text_.data(), text_.size());
    }
    if (n == 0)
      sanitized[i] = 'x';  // a letter: plain scalar text anywhere ('?' is a key indicator)
    i += n == 0 ? 1 : n;
  }
  if (bad_offset_ == std::string_view::npos) return Build();
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }
  const std::string_view original = text_;
  text_ = sanitized;
  StatusOr<YamlDocument> doc = Build();
  text_ = original;
  // Build() names the key when it meets the bad byte in a value; anything else (a comment, a
  // syntax error) gets the line alone.
  if (!doc.ok() && named_bad_byte_) return doc;
  return NotUtf8("");
}

StatusOr<YamlDocument> YamlBuilder::Build() {
  LibyamlParser parser;
  if (!parser.ok()) return Err(0, "malformed YAML: cannot start the parser (out of memory)");
  yaml_parser_set_input_string(parser.get(), reinterpret_cast<const unsigned char*>(text_.data()),
                               text_.size());
  // UTF-8 only: without this a leading FF FE would switch libyaml to UTF-16.
  yaml_parser_set_encoding(parser.get(), YAML_UTF8_ENCODING);
  // Every node takes at most 2 events and every document 2 more, each with a root node: a stream
  // cannot take more events than this unless the parser misbehaves, and then we stop anyway.
  const size_t max_events = 4 * limits_.max_nodes + 8;
  for (size_t events = 0;; ++events) {
    if (events > max_events) return Err(0, "malformed YAML: too many parser events");
    Event event;
    if (!yaml_parser_parse(parser.get(), event.get())) return SyntaxError(parser.get());
    const yaml_event_t& e = *event;
    const int line = static_cast<int>(e.start_mark.line) + 1;
    switch (e.type) {
      case YAML_NO_EVENT:
      case YAML_STREAM_END_EVENT: break;
      case YAML_STREAM_START_EVENT:
      case YAML_DOCUMENT_END_EVENT: continue;
      case YAML_DOCUMENT_START_EVENT: ++documents_; continue;
      case YAML_ALIAS_EVENT:
        return Err(line, "aliases (*" +
                             std::string(reinterpret_cast<const char*>(e.data.alias.anchor)) +
                             ") are not supported; write the value out");
      case YAML_SCALAR_EVENT: {
        HPSWEEP_RETURN_IF_ERROR(CheckProperties(e.data.scalar.anchor, e.data.scalar.tag, line));
        const std::string_view value(reinterpret_cast<const char*>(e.data.scalar.value),
                                     e.data.scalar.length);
        if (value.size() > limits_.max_scalar_bytes) {
          return Err(line, "a value of " + std::to_string(value.size()) +
                               " bytes, over the limit of " +
                               std::to_string(limits_.max_scalar_bytes));
        }
        if (bad_offset_ != std::string_view::npos && OffsetOf(e.start_mark) <= bad_offset_ &&
            bad_offset_ < OffsetOf(e.end_mark)) {
          // "key 'fixed.cell'", "a key at 'fixed'", "item 2 of 'trials'"
          named_bad_byte_ = true;
          return NotUtf8(ChildName());
        }
        for (size_t i = 0; i < value.size();) {
          const size_t n = Utf8Length(value, i);
          if (n == 0) return Err(line, "a value is not valid UTF-8 text");
          if (IsControlAt(value, i, n)) {
            std::string bytes;
            for (size_t k = 0; k < n; ++k) bytes += Hex(static_cast<unsigned char>(value[i + k]));
            return Err(line, "a value holds the control character " + bytes +
                                 "; only tab and newline are allowed");
          }
          i += n;
        }
        StatusOr<YamlNode*> made = NewNode(YamlKind::kScalar, e);
        if (!made.ok()) return made.status();
        YamlNode* node = *made;
        node->text.assign(value.data(), value.size());
        node->plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        HPSWEEP_RETURN_IF_ERROR(Attach(node));
        continue;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool mapping = e.type == YAML_MAPPING_START_EVENT;
        HPSWEEP_RETURN_IF_ERROR(
            mapping
                ? CheckProperties(e.data.mapping_start.anchor, e.data.mapping_start.tag, line)
                : CheckProperties(e.data.sequence_start.anchor, e.data.sequence_start.tag, line));
        if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
          return Err(line, "values nested more than " + std::to_string(limits_.max_depth) +
                               " levels deep");
        }
        StatusOr<YamlNode*> made = NewNode(mapping ? YamlKind::kMapping : YamlKind::kSequence, e);
        if (!made.ok()) return made.status();
        YamlNode* node = *made;
        Frame frame;
        frame.node = node;
        if (!stack_.empty()) {
          const Frame& parent = stack_.back();
          if (parent.node->IsSequence()) frame.via_item = parent.node->items.size() + 1;
          frame.via_key = parent.node->IsMapping() ? parent.key : nullptr;
        }
        HPSWEEP_RETURN_IF_ERROR(Attach(node));
        stack_.push_back(std::move(frame));
        continue;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        if (!stack_.empty()) stack_.pop_back();
        continue;
    }
    break;  // the end of the stream
  }
  if (documents_ > 1) {
    return Err(second_root_line_, "expected one YAML document, found " +
                                      std::to_string(documents_) + " (remove the second '---')");
  }
  return std::move(doc_);
}

StatusOr<YamlDocument> ParseYaml(std::string_view text, const std::string& file_name,
                                 const YamlLimits& limits) {
  YamlBuilder builder(text, file_name, limits);
  return builder.Run();
}

}  // namespace hpsweep
