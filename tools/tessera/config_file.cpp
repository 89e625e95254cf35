#include "config_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "common_options.h"

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

// Edit distance, for "did you mean" on a mistyped key.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& name, const po::options_description& options) {
  std::string best;
  size_t best_distance = 3;  // suggest only close spellings
  for (const auto& option : options.options()) {
    const std::string candidate = option->long_name();
    const size_t d = edit_distance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// A plain (unquoted) YAML scalar keeps its YAML type in JSON; a quoted one is a string.
nlohmann::json to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& item : node) out[item.first.Scalar()] = to_json(item.second);
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node) out.push_back(to_json(item));
    return out;
  }
  if (node.IsNull()) return nullptr;
  if (node.Tag() != "!") {
    bool flag = false;
    if (YAML::convert<bool>::decode(node, flag)) return flag;
    int64_t integer = 0;
    if (YAML::convert<int64_t>::decode(node, integer)) return integer;
    double number = 0;
    if (YAML::convert<double>::decode(node, number)) return number;
  }
  return node.Scalar();
}

bool takes_list(const po::value_semantic& semantic) {
  return dynamic_cast<const po::typed_value<std::vector<std::string>>*>(&semantic) != nullptr;
}

// The option's command-line tokens for one YAML value ("--key=value", one per list item).
std::vector<std::string> option_tokens(const std::string& name, const po::value_semantic& semantic,
                                       const YAML::Node& value, const std::string& where) {
  const std::string flag = "--" + name;
  if (value.IsNull()) throw UsageError(where + ": '" + name + "' has no value");
  if (semantic.max_tokens() == 0) {  // a switch such as ignore-eos
    bool on = false;
    if (!value.IsScalar() || !YAML::convert<bool>::decode(value, on)) {
      throw UsageError(where + ": '" + name + "' is a switch: give true or false");
    }
    return on ? std::vector<std::string>{flag} : std::vector<std::string>{};
  }
  if (value.IsMap()) {
    if (!name.ends_with("kwargs")) {
      throw UsageError(where + ": '" + name + "' takes a single value, not a mapping");
    }
    try {
      return {flag + "=" + to_json(value).dump()};
    } catch (const nlohmann::json::exception&) {  // dump() refuses text that is not UTF-8
      throw UsageError(where + ": '" + name + "' holds text that is not valid UTF-8");
    }
  }
  if (value.IsSequence()) {
    if (!takes_list(semantic)) {
      throw UsageError(where + ": '" + name + "' takes a single value, not a list");
    }
    std::vector<std::string> tokens;
    for (const auto& item : value) {
      if (!item.IsScalar()) {
        throw UsageError(where + ": the items of '" + name + "' must be plain values");
      }
      tokens.push_back(flag + "=" + item.Scalar());
    }
    return tokens;
  }
  return {flag + "=" + value.Scalar()};
}

}  // namespace

void store_config_file(const std::string& path, const po::options_description& options,
                       po::variables_map& vm) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw UsageError("--config: cannot read " + path);
  } catch (const YAML::Exception& e) {
    throw UsageError(path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return;  // an empty file sets nothing
  if (!root.IsMap()) {
    throw UsageError(path + ": a config file is a mapping of 'option: value' lines");
  }
  std::vector<std::string> seen;
  for (const auto& item : root) {
    const std::string where = path + ":" + std::to_string(item.first.Mark().line + 1);
    if (!item.first.IsScalar()) throw UsageError(where + ": an option name must be a plain key");
    std::string name = item.first.Scalar();
    std::replace(name.begin(), name.end(), '_', '-');
    // An empty key (a YAML tag alone, `!:`) would make boost's lookup throw: every option
    // name starts with "".
    if (name.empty()) throw UsageError(where + ": an option name must not be empty");
    const po::option_description* option = options.find_nothrow(name, false, false, false);
    if (option == nullptr || name == "config" || name == "help") {
      throw UsageError(where + ": unknown option '" + item.first.Scalar() + "'" +
                       suggestion(name, options));
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      throw UsageError(where + ": '" + name + "' is given twice");
    }
    seen.push_back(name);
    const auto tokens = option_tokens(name, *option->semantic(), item.second, where);
    if (tokens.empty()) continue;
    try {
      // One store per key: repeated tokens of a list option land in one value.
      po::store(po::command_line_parser(tokens).options(options).run(), vm);
    } catch (po::error_with_option_name& e) {
      // what() substitutes placeholders such as %value% into its message until none is left,
      // so a value that itself holds "%value%" never finished (a hang found by fuzzing): give
      // boost neutral text for the user's tokens; `where` names the line.
      e.set_substitute("value", "the value");
      e.set_substitute("original_token", name);
      throw UsageError(where + ": " + e.what());
    } catch (const po::error& e) {
      throw UsageError(where + ": " + e.what());
    }
  }
}

}  // namespace tessera::cli
