// Report lines checked (worker/program_report.h).
#include "worker/program_report.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/utf8.h"

namespace hpsweep {

namespace {

constexpr size_t kQuoteBytes = 60;

// The start of a line for a message: at most kQuoteBytes, cut at a character boundary, escaped.
std::string Quote(std::string_view line) {
  if (line.size() <= kQuoteBytes) return EscapeText(line);
  size_t cut = kQuoteBytes;
  // Back off over continuation bytes so that a character is not cut in two.
  for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80; ++k) {
    --cut;
  }
  return EscapeText(line.substr(0, cut)) + "...";
}

std::string Quoted(const std::string& name) {
  return "\"" + EscapeText(name.size() > kMaxMetricNameBytes ? name.substr(0, kMaxMetricNameBytes)
                                                             : name) +
         "\"";
}

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// The epoch value of an epoch line; an error text if it is not an integer in range.
std::string CheckEpoch(const nlohmann::json& v, int next_epoch, int max_epoch, int* epoch) {
  if (!v.is_number_integer()) return "\"epoch\" is not an integer";
  int64_t e = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    e = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
            ? std::numeric_limits<int64_t>::max()
            : static_cast<int64_t>(u);
  } else {
    e = v.get<int64_t>();
  }
  if (e > max_epoch) {
    return "epoch " + std::to_string(e) + " is past the trial's epochs (" +
           std::to_string(max_epoch) + ")";
  }
  if (e != next_epoch) {
    return "epoch " + std::to_string(e) + " out of order (expected " +
           std::to_string(next_epoch) + ")";
  }
  *epoch = static_cast<int>(e);
  return "";
}

// The metrics of a parsed object (every key but "epoch"); an error text if one is bad.
std::string CheckMetrics(const nlohmann::json& j, std::map<std::string, double>* metrics) {
  for (const auto& [key, value] : j.items()) {
    if (key == "epoch") continue;
    if (value.is_object() || value.is_array()) {
      return Quoted(key) + " is nested (one level only)";
    }
    if (!IsMetricName(key)) return "bad metric name " + Quoted(key);
    if (!value.is_number()) return "metric " + Quoted(key) + " is not a number";
    const double x = value.get<double>();
    if (!std::isfinite(x)) return "metric " + Quoted(key) + " is not finite";
    (*metrics)[key] = x;
  }
  if (metrics->size() > kMaxReportMetrics) {
    return "more than " + std::to_string(kMaxReportMetrics) + " metrics";
  }
  return "";
}

}  // namespace

StatusOr<ReportLine> ParseReportLine(std::string_view line, int line_number, int next_epoch,
                                     int max_epoch) {
  auto fail = [&](const std::string& what) {
    return InvalidArgument("report line " + std::to_string(line_number) + ": " + what + ": " +
                           Quote(line));
  };
  if (line.size() > kMaxReportLineBytes) {
    return fail("longer than " + std::to_string(kMaxReportLineBytes) + " bytes");
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  ReportLine out;
  if (IsBlank(line)) return out;
  if (!IsValidUtf8(line)) return fail("invalid UTF-8");
  // The line is bounded, so the parsed value is too; nested values are refused below.
  const nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) return fail("not JSON");
  if (!j.is_object()) return fail("not a JSON object");
  if (j.size() > kMaxReportMetrics + 1) {
    return fail("more than " + std::to_string(kMaxReportMetrics) + " metrics");
  }
  std::string what = CheckMetrics(j, &out.epoch.metrics);
  if (!what.empty()) return fail(what);
  const auto it = j.find("epoch");
  if (it == j.end()) {
    out.kind = ReportLine::Kind::kFinal;
    return out;
  }
  what = CheckEpoch(*it, next_epoch, max_epoch, &out.epoch.epoch);
  if (!what.empty()) return fail(what);
  out.kind = ReportLine::Kind::kEpoch;
  return out;
}

ReportReader::ReportReader(int resume_epoch, int max_epoch)
    : next_epoch_(resume_epoch + 1), max_epoch_(max_epoch > 0 ? max_epoch : kMaxProgramEpochs) {}

Status ReportReader::Add(std::string_view bytes, std::vector<ReportLine>* lines) {
  if (!error_.ok()) return error_;
  while (!bytes.empty()) {
    const size_t nl = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, nl);
    if (partial_.size() + piece.size() > kMaxReportLineBytes) {
      // Keep one byte past the limit (for the message), never the rest of the line.
      partial_.append(piece.substr(0, kMaxReportLineBytes + 1 - partial_.size()));
      error_ = TakeLine(partial_, lines);
      partial_.clear();
      return error_;
    }
    partial_.append(piece);
    if (nl == std::string_view::npos) break;
    error_ = TakeLine(partial_, lines);
    partial_.clear();
    if (!error_.ok()) return error_;
    bytes.remove_prefix(nl + 1);
  }
  return Status::Ok();
}

Status ReportReader::Finish(std::vector<ReportLine>* lines) {
  if (!error_.ok()) return error_;
  if (!partial_.empty()) error_ = TakeLine(partial_, lines);
  partial_.clear();
  return error_;
}

Status ReportReader::TakeLine(std::string_view line, std::vector<ReportLine>* lines) {
  ++line_number_;
  StatusOr<ReportLine> r = ParseReportLine(line, line_number_, next_epoch_, max_epoch_);
  if (!r.ok()) return r.status();
  if (r->kind == ReportLine::Kind::kBlank) return Status::Ok();
  if (final_seen_) {
    return InvalidArgument("report line " + std::to_string(line_number_) +
                           ": a line after the final line");
  }
  if (r->kind == ReportLine::Kind::kEpoch) {
    ++next_epoch_;
  } else {
    final_seen_ = true;
  }
  lines->push_back(std::move(*r));
  return Status::Ok();
}

}  // namespace hpsweep
