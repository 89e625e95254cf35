// Shared helpers for the tokenizer tests: loading the real tokenizers of tests/data/tokenizers
// once per process, and their goldens.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/tokenizer.h"

namespace tessera::tokenizer::test {

inline std::filesystem::path data_dir(const std::string& name) {
  return std::filesystem::path(TESSERA_TEST_DATA_DIR) / "tokenizers" / name;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << p;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline const Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) t = Tokenizer::from_files(data_dir(name));
  return *t;
}

inline const nlohmann::json& goldens(const std::string& name) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    it = cache.emplace(name, nlohmann::json::parse(read_text(data_dir(name) / "goldens.json")))
             .first;
  }
  return it->second;
}

inline const std::vector<std::string> kTokenizerNames = {
    "llama-3.1",      "qwen3",      "spm-32k-llama2", "tiny-flags",
    "tiny-metaspace", "tiny-words", "tiny-whitespace"};

}  // namespace tessera::tokenizer::test
