// Fuzz target: a program trial's report lines (worker/program_report.h), JSON one object a line
// from a user's program. A 4-byte header, then the stream:
//   h[0]  bits 0-1: the stream comes in 1 + h[0] % 4 % 3 chunks (Add calls); bits 2-4:
//         resume_epoch 0..7; bits 5-7: max_epoch (0: the default, else 2, 4, ... 14)
//   h[1], h[2]  where the chunks are cut (each mod the stream's size + 1, sorted)
//   h[3]  >= 0x80: one more Add, before the second chunk (after the first when there is one), of
//         kMaxReportLineBytes - 8 .. + 7 copies of a byte, so that the one-line limit is reached
//         without a 64 KB input; its length from bits 3-6, its byte from bits 0-2
// Then Finish. ParseReportLine also checks the stream's first line on its own. Invariants (abort
// on violation): never more than kMaxReportLineBytes buffered; lines come back non-blank, epoch
// lines consecutive from resume_epoch + 1 and within max_epoch, a final line only last; every
// metric name passes IsMetricName and every value is finite; every error is valid UTF-8, and once
// failed the reader returns the same error and no lines; the first line parsed alone agrees with
// what the reader made of it.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/utf8.h"
#include "search/objective.h"
#include "worker/program_report.h"

namespace {

using hpsweep::ReportLine;

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckMetrics(const hpsweep::ProgramEpoch& e) {
  Check(e.metrics.size() <= hpsweep::kMaxReportMetrics);
  for (const auto& [name, value] : e.metrics) {
    Check(hpsweep::IsMetricName(name) && name != "epoch");
    Check(std::isfinite(value));
  }
}

bool SameLine(const ReportLine& a, const ReportLine& b) {
  return a.kind == b.kind && a.epoch.epoch == b.epoch.epoch && a.epoch.metrics == b.epoch.metrics;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4 || size > 256 * 1024) return 0;
  const int chunks = 1 + data[0] % 4 % 3;
  const int resume_epoch = (data[0] >> 2) & 7;
  const int max_epoch = (data[0] >> 5) * 2;
  const int limit = max_epoch > 0 ? max_epoch : hpsweep::kMaxProgramEpochs;
  const std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);
  size_t cuts[2] = {data[1] % (stream.size() + 1), data[2] % (stream.size() + 1)};
  std::sort(cuts, cuts + 2);
  std::vector<std::string_view> pieces;
  if (chunks == 1) {
    pieces = {stream};
  } else if (chunks == 2) {
    pieces = {stream.substr(0, cuts[0]), stream.substr(cuts[0])};
  } else {
    pieces = {stream.substr(0, cuts[0]), stream.substr(cuts[0], cuts[1] - cuts[0]),
              stream.substr(cuts[1])};
  }
  std::string filler;
  if (data[3] & 0x80) {
    static const char kFill[] = {' ', 'a', '\r', '\t', '\xC3', '[', '"', '\n'};
    filler.assign(hpsweep::kMaxReportLineBytes - 8 + ((data[3] >> 3) & 15), kFill[data[3] & 7]);
  }

  hpsweep::ReportReader reader(resume_epoch, max_epoch);
  std::vector<ReportLine> lines;
  hpsweep::Status status;
  auto feed = [&](std::string_view bytes) {
    const size_t before = lines.size();
    const int read_before = reader.lines_read();
    hpsweep::Status s = reader.Add(bytes, &lines);
    Check(reader.buffered_bytes() <= hpsweep::kMaxReportLineBytes);
    Check(reader.lines_read() >= read_before);
    if (!status.ok()) {  // failed before: the same error, nothing read
      Check(!s.ok() && s.message() == status.message() && lines.size() == before &&
            reader.lines_read() == read_before);
    }
    status = s;
  };
  if (!filler.empty()) pieces.insert(pieces.begin() + 1, filler);
  for (std::string_view piece : pieces) feed(piece);
  {
    const size_t before = lines.size();
    hpsweep::Status s = reader.Finish(&lines);
    Check(reader.buffered_bytes() == 0);
    if (!status.ok()) Check(!s.ok() && s.message() == status.message() && lines.size() == before);
    status = s;
  }
  if (!status.ok()) Check(hpsweep::IsValidUtf8(status.message()));

  int next = resume_epoch + 1;
  for (size_t i = 0; i < lines.size(); ++i) {
    const ReportLine& l = lines[i];
    CheckMetrics(l.epoch);
    if (l.kind == ReportLine::Kind::kEpoch) {
      Check(l.epoch.epoch == next++ && l.epoch.epoch <= limit);
    } else {
      Check(l.kind == ReportLine::Kind::kFinal && i + 1 == lines.size() && l.epoch.epoch == 0);
    }
  }

  // The first line alone.
  const std::string_view first = stream.substr(0, stream.find('\n'));
  hpsweep::StatusOr<ReportLine> one =
      hpsweep::ParseReportLine(first, 1, resume_epoch + 1, limit);
  if (!one.ok()) {
    Check(hpsweep::IsValidUtf8(one.status().message()));
  } else {
    CheckMetrics(one->epoch);
    if (one->kind == ReportLine::Kind::kEpoch) Check(one->epoch.epoch == resume_epoch + 1);
  }
  // Without the filler the reader's first line is this one, however the chunks cut it: the same
  // line, or the same error (a line over the limit is quoted from its start either way).
  if (filler.empty()) {
    if (!one.ok()) {
      Check(!status.ok() && status.message() == one.status().message());
    } else if (one->kind != ReportLine::Kind::kBlank) {
      Check(!lines.empty() && SameLine(lines[0], *one));
    }
  }
  return 0;
}
