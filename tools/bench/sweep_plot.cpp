#include "sweep_plot.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tessera::bench {

namespace {

constexpr double kPanelWidth = 360;
constexpr double kPanelHeight = 260;
constexpr double kMarginLeft = 70;
constexpr double kMarginTop = 60;
constexpr double kPanelGap = 100;
constexpr double kMarginBottom = 90;

// Numbers as they appear on axes and labels: short, and the same on every platform.
std::string number(double value) {
  if (value == 0) return "0";
  const double magnitude = std::fabs(value);
  if (magnitude >= 1000) return fmt::format("{:.0f}", value);
  if (magnitude >= 10) return fmt::format("{:.4g}", value);
  return fmt::format("{:.3g}", value);
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// A "nice" tick step (1, 2 or 5 × 10^k) giving about five ticks up to `max`.
double tick_step(double max) {
  const double raw = max / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * power) return m * power;
  }
  return 10 * power;
}

struct Series {
  std::string name;
  std::string color;
  bool dashed = false;
  std::vector<double> values;  // one per point
};

class Panel {
 public:
  Panel(double left, double top, double max_x, double max_y)
      : left_(left), top_(top), max_x_(max_x), max_y_(max_y) {}
  double x(double v) const { return left_ + v / max_x_ * kPanelWidth; }
  double y(double v) const { return top_ + kPanelHeight - v / max_y_ * kPanelHeight; }
  double max_x() const { return max_x_; }
  double max_y() const { return max_y_; }
  double left() const { return left_; }
  double top() const { return top_; }

 private:
  double left_, top_, max_x_, max_y_;
};

// Rounds the top of an axis up to a whole number of ticks.
double axis_max(double max_value) {
  if (!(max_value > 0)) return 1;
  const double step = tick_step(max_value * 1.05);
  return std::ceil(max_value * 1.05 / step) * step;
}

void draw_axes(std::string& svg, const Panel& p, const std::string& title,
               const std::string& x_label, const std::string& y_label) {
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\">{}</text>\n",
                     number(p.left() + kPanelWidth / 2), number(p.top() - 12), escape(title));
  svg += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n",
      number(p.left()), number(p.top()), number(kPanelWidth), number(kPanelHeight));
  for (double v = 0, step = tick_step(p.max_x()); v <= p.max_x() * 1.0001; v += step) {
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#ddd\"/>"
        "<text x=\"{0}\" y=\"{3}\" font-size=\"11\" text-anchor=\"middle\">{4}</text>\n",
        number(p.x(v)), number(p.top()), number(p.top() + kPanelHeight),
        number(p.top() + kPanelHeight + 16), number(v));
  }
  for (double v = 0, step = tick_step(p.max_y()); v <= p.max_y() * 1.0001; v += step) {
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#ddd\"/>"
        "<text x=\"{3}\" y=\"{4}\" font-size=\"11\" text-anchor=\"end\">{5}</text>\n",
        number(p.left()), number(p.y(v)), number(p.left() + kPanelWidth), number(p.left() - 6),
        number(p.y(v) + 4), number(v));
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
                     number(p.left() + kPanelWidth / 2), number(p.top() + kPanelHeight + 36),
                     escape(x_label));
  svg += fmt::format(
      "<text x=\"{0}\" y=\"{1}\" font-size=\"12\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 {0} {1})\">{2}</text>\n",
      number(p.left() - 50), number(p.top() + kPanelHeight / 2), escape(y_label));
}

void draw_series(std::string& svg, const Panel& p, const std::vector<SweepPoint>& points,
                 const Series& s, double legend_y) {
  std::string path;
  for (size_t i = 0; i < points.size(); ++i) {
    path += fmt::format("{}{},{}", i == 0 ? "M" : " L", number(p.x(points[i].load)),
                        number(p.y(s.values[i])));
  }
  svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", path,
                     s.color, s.dashed ? " stroke-dasharray=\"6 3\"" : "");
  for (size_t i = 0; i < points.size(); ++i) {
    svg += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" stroke=\"{}\" fill=\"{}\"/>\n",
                       number(p.x(points[i].load)), number(p.y(s.values[i])), s.color,
                       points[i].meets_slo ? s.color : "white");
  }
  const double lx = p.left() + 8;
  svg += fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>"
      "<text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>\n",
      number(lx), number(legend_y), number(lx + 20), number(legend_y), s.color,
      s.dashed ? " stroke-dasharray=\"6 3\"" : "", number(lx + 26), number(legend_y + 4),
      escape(s.name));
}

void draw_panel(std::string& svg, const SweepPlot& plot, double left, const std::string& title,
                const std::string& y_label, const std::vector<Series>& series, double slo) {
  double max_load = 0;
  double max_y = slo;
  for (size_t i = 0; i < plot.points.size(); ++i) {
    max_load = std::max(max_load, plot.points[i].load);
    for (const auto& s : series) max_y = std::max(max_y, s.values[i]);
  }
  const Panel p(left, kMarginTop, axis_max(max_load), axis_max(max_y));
  draw_axes(svg, p, title, plot.load_label, y_label);
  if (slo > 0) {
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#d62728\" "
        "stroke-dasharray=\"2 3\"/><text x=\"{2}\" y=\"{3}\" font-size=\"11\" "
        "text-anchor=\"end\" fill=\"#d62728\">SLO p99 {4} ms</text>\n",
        number(p.left()), number(p.y(slo)), number(p.left() + kPanelWidth), number(p.y(slo) - 4),
        number(slo));
  }
  if (plot.knee) {
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#2ca02c\" "
        "stroke-width=\"2\" stroke-dasharray=\"8 4\"/><text x=\"{3}\" y=\"{4}\" "
        "font-size=\"11\" fill=\"#2ca02c\">knee {5}</text>\n",
        number(p.x(*plot.knee)), number(p.top()), number(p.top() + kPanelHeight),
        number(p.x(*plot.knee) + 4), number(p.top() + kPanelHeight - 6), number(*plot.knee));
  }
  double legend_y = p.top() + 14;
  for (const auto& s : series) {
    draw_series(svg, p, plot.points, s, legend_y);
    legend_y += 16;
  }
}

}  // namespace

std::string render_sweep_svg(const SweepPlot& input) {
  SweepPlot plot = input;
  std::sort(plot.points.begin(), plot.points.end(),
            [](const SweepPoint& a, const SweepPoint& b) { return a.load < b.load; });
  auto values = [&](double SweepPoint::*field) {
    std::vector<double> out;
    for (const auto& point : plot.points) out.push_back(point.*field);
    return out;
  };
  const double width = kMarginLeft + 3 * kPanelWidth + 2 * kPanelGap + 30;
  const double height = kMarginTop + kPanelHeight + kMarginBottom;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">{3}</text>\n",
      number(width), number(height), number(width / 2), escape(plot.title));
  double left = kMarginLeft;
  draw_panel(svg, plot, left, "output throughput", "tokens/s",
             {{"output tok/s", "#1f77b4", false, values(&SweepPoint::output_throughput)}}, 0);
  left += kPanelWidth + kPanelGap;
  draw_panel(svg, plot, left, "time to first token", "ms",
             {{"TTFT p50", "#ff7f0e", false, values(&SweepPoint::ttft_p50_ms)},
              {"TTFT p99", "#ff7f0e", true, values(&SweepPoint::ttft_p99_ms)}},
             plot.slo_ttft_p99_ms);
  left += kPanelWidth + kPanelGap;
  draw_panel(svg, plot, left, "time per output token", "ms",
             {{"TPOT p50", "#9467bd", false, values(&SweepPoint::tpot_p50_ms)},
              {"TPOT p99", "#9467bd", true, values(&SweepPoint::tpot_p99_ms)}},
             plot.slo_tpot_p99_ms);
  svg += fmt::format(
      "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#555\">filled: meets the SLO; hollow: "
      "breaks it</text>\n</svg>\n",
      number(kMarginLeft), number(height - 12));
  return svg;
}

}  // namespace tessera::bench
