// The SVG plot of a load sweep (`tessera bench serve --sweep`, `tessera tune`): three panels
// against the offered load — output throughput, TTFT p50/p99 and TPOT p50/p99 — with the
// SLO limits as horizontal lines and the knee as a vertical line in every panel. Points that
// meet the SLO are filled, the others hollow.
//
// Written by hand: the plot is three line charts, and the Debian/PyPI plotting libraries
// (matplotlib, gnuplot) would add a Python or a gnuplot dependency to a C++ tool for ~200
// lines of SVG. The output is deterministic (fixed number formatting, no timestamps), so a
// golden file tests it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tessera::bench {

struct SweepPoint {
  double load = 0;               // request rate (req/s) or concurrency
  double output_throughput = 0;  // tokens/s
  double ttft_p50_ms = 0;
  double ttft_p99_ms = 0;
  double tpot_p50_ms = 0;
  double tpot_p99_ms = 0;
  bool meets_slo = false;
};

struct SweepPlot {
  std::string title;
  std::string load_label;  // "request rate (req/s)" or "max concurrency"
  std::vector<SweepPoint> points;
  std::optional<double> knee;  // the highest load that met the SLO
  double slo_ttft_p99_ms = 0;  // 0: no limit drawn
  double slo_tpot_p99_ms = 0;
};

std::string render_sweep_svg(const SweepPlot& plot);

}  // namespace tessera::bench
