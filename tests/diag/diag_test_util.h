// Helpers shared by the diag tests: look items up by key, and copy a fixture tree.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "diag/diag_item.h"

namespace tessera::diag::testing {

inline std::string fixture(const std::string& name) {
  return std::string(TESSERA_TEST_DATA_DIR) + "/diag/" + name;
}

// The item with `key`, or nullptr. Keys are unique within a report.
inline const DiagItem* find_item(const std::vector<DiagItem>& items, const std::string& key) {
  for (const auto& item : items) {
    if (item.key == key) return &item;
  }
  return nullptr;
}

inline const DiagItem* find_item(const std::vector<DiagSection>& sections, const std::string& key) {
  for (const auto& section : sections) {
    if (const DiagItem* item = find_item(section.items, key)) return item;
  }
  return nullptr;
}

// Asserting lookup: fails the test (and returns a placeholder) when the key is absent.
inline DiagItem get_item(const std::vector<DiagSection>& sections, const std::string& key) {
  const DiagItem* item = find_item(sections, key);
  EXPECT_NE(item, nullptr) << "no item " << key;
  return item != nullptr ? *item : DiagItem{};
}

inline DiagItem get_item(const std::vector<DiagItem>& items, const std::string& key) {
  const DiagItem* item = find_item(items, key);
  EXPECT_NE(item, nullptr) << "no item " << key;
  return item != nullptr ? *item : DiagItem{};
}

// A private copy of a fixture under the test temp dir (symlinks kept as links).
class TempTree {
 public:
  explicit TempTree(const std::string& fixture_name) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("tessera-diag-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::copy(
        fixture(fixture_name), path_,
        std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
  }
  ~TempTree() {
    std::error_code ec;
    // chmod 000 files are removable (the directory is writable), so this always cleans up.
    std::filesystem::remove_all(path_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  std::string root() const { return path_.string(); }
  std::string real(const std::string& logical) const { return path_.string() + logical; }

 private:
  std::filesystem::path path_;
};

}  // namespace tessera::diag::testing
