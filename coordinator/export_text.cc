// The export's text in pieces (coordinator/export_text.h).
#include "coordinator/export_text.h"

namespace hpsweep {
namespace {

// dump(1) of a value nested `depth` levels deep: each line after the first indented by depth.
std::string Nested(const nlohmann::json& j, int depth) {
  // replace: text from an old database may not be UTF-8; dump would throw (type_error.316).
  const std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string pad(depth, ' ');
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    out += c;
    if (c == '\n') out += pad;  // a newline inside a string is escaped: only layout breaks here
  }
  return out;
}

}  // namespace

std::string ExportHeadText(const nlohmann::json& sweep) {
  return "{\n \"sweep\": " + Nested(sweep, 1) + ",\n \"trials\": [";
}

std::string ExportTrialText(const nlohmann::json& trial) { return Nested(trial, 2); }

std::string ExportPage::Json() const {
  ExportJoiner join;
  std::string out = head;
  for (const std::string& t : trials) out += join.Trial(t);
  return out + join.Tail();
}

}  // namespace hpsweep
