// Fuzz target: a sweep's export (the JSON `hpsweep export --format json` prints) as the report
// reads it (report/report.h): SweepReportHtml (no model, no data), RankedTrialIds, and
// CompareReportHtml of the export beside itself. The export comes from a database file or over
// the network: any input must give a page or a Status, never a crash, an escaping exception or a
// hang. Invariants (abort on violation): every error is valid UTF-8; what nlohmann cannot parse,
// all three refuse; RankedTrialIds returns integer ids of the export's trials, each at most as
// often as the export holds it (so distinct when the export's are); a page is valid UTF-8,
// starts as an HTML document and ends with </html>, holds exactly one <script> (the page's own:
// every text from the export was escaped) and, before it, no '<' that does not open a tag; and
// where the sweep's page is made, so is the comparison (it reads nothing the page does not).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "report/report.h"

namespace {

using json = nlohmann::json;

void Check(bool ok) {
  if (!ok) std::abort();
}

template <typename T>
void CheckError(const hpsweep::StatusOr<T>& r) {
  if (!r.ok()) Check(!r.status().message().empty() && hpsweep::IsValidUtf8(r.status().message()));
}

// A page: valid UTF-8, an HTML document, the one script its own, and before the script every '<'
// the start of a tag, an end tag or a comment (an unescaped '<' from the export would not be).
void CheckPage(const std::string& page) {
  Check(page.rfind("<!DOCTYPE html>", 0) == 0);
  Check(page.size() >= 8 && page.compare(page.size() - 8, 8, "</html>\n") == 0);
  Check(hpsweep::IsValidUtf8(page));
  std::string lower(page);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t script = lower.find("<script");
  Check(script != std::string::npos && lower.find("<script", script + 1) == std::string::npos);
  for (size_t at = page.find('<'); at < script; at = page.find('<', at + 1)) {
    const unsigned char next = static_cast<unsigned char>(page[at + 1]);
    Check(std::isalpha(next) || next == '/' || next == '!');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Real exports of small sweeps are a few KB; longer inputs only slow the search down.
  if (size > 64 * 1024) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const json ex = json::parse(text, nullptr, /*allow_exceptions=*/false);

  hpsweep::StatusOr<std::vector<int64_t>> ids = hpsweep::RankedTrialIds(text);
  CheckError(ids);
  hpsweep::StatusOr<std::string> page = hpsweep::SweepReportHtml(text, "", nullptr);
  CheckError(page);
  hpsweep::StatusOr<std::string> both = hpsweep::CompareReportHtml({text, text});
  CheckError(both);

  if (ex.is_discarded()) {
    Check(!ids.ok() && !page.ok() && !both.ok());
    return 0;
  }
  if (ids.ok()) {
    std::map<int64_t, int> left;  // id -> trials of the export with it, not yet returned
    auto trials = ex.find("trials");  // end() for an export that is not an object
    if (trials != ex.end() && trials->is_array()) {
      for (const json& t : *trials) {
        auto id = t.find("id");  // end() for a trial that is not an object
        if (id != t.end() && id->is_number_integer()) ++left[id->get<int64_t>()];
      }
    }
    for (int64_t id : *ids) Check(left[id]-- > 0);
  }
  if (page.ok()) {
    CheckPage(*page);
    Check(both.ok());
  }
  if (both.ok()) CheckPage(*both);
  return 0;
}
