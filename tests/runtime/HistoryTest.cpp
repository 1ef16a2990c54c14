#include "runtime/History.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

namespace cnnc::runtime {
namespace {

namespace fs = std::filesystem;

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t countOf(const std::string &text, const std::string &part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos;
       at = text.find(part, at + 1))
    ++n;
  return n;
}

// Checks XML well-formedness as far as SVG output needs: balanced, properly
// nested elements, quoted attributes, no stray '<' or '&' in text.
::testing::AssertionResult isWellFormedXml(const std::string &xml) {
  std::vector<std::string> open;
  size_t roots = 0;
  for (size_t i = 0; i < xml.size();) {
    if (xml[i] == '&') {
      size_t semi = xml.find(';', i);
      std::string ent =
          xml.substr(i, semi == std::string::npos ? 8 : semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" &&
          ent != "&apos;")
        return ::testing::AssertionFailure() << "bad entity at " << i;
      i = semi + 1;
      continue;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    size_t close = xml.find('>', i);
    if (close == std::string::npos)
      return ::testing::AssertionFailure() << "unclosed tag at " << i;
    std::string tag = xml.substr(i + 1, close - i - 1);
    i = close + 1;
    if (tag.starts_with("?"))
      continue;
    if (countOf(tag, "\"") % 2 != 0 || tag.find('<') != std::string::npos)
      return ::testing::AssertionFailure() << "bad tag <" << tag << ">";
    if (tag.starts_with("/")) {
      if (open.empty() || open.back() != tag.substr(1))
        return ::testing::AssertionFailure() << "mismatched </" << tag << ">";
      open.pop_back();
      continue;
    }
    std::string name = tag.substr(0, tag.find_first_of(" \n/"));
    if (open.empty())
      ++roots;
    if (!tag.ends_with("/"))
      open.push_back(name);
  }
  if (!open.empty())
    return ::testing::AssertionFailure() << "<" << open.back() << "> unclosed";
  if (roots != 1)
    return ::testing::AssertionFailure() << roots << " root elements";
  return ::testing::AssertionSuccess();
}

class HistoryTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "cnnc-hist-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string &name) const {
    return (fs::path(dir) / name).string();
  }

  std::vector<std::string> listDir() const {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(dir))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir;
};

std::vector<EpochRecord> sampleHistory(int epochs, bool validation) {
  std::vector<EpochRecord> records;
  for (int e = 1; e <= epochs; ++e) {
    EpochRecord r;
    r.epoch = e;
    r.loss = 1.6 * std::exp(-0.45 * e) + 0.05;
    r.accuracy = 0.98 - 0.5 * std::exp(-0.6 * e);
    r.hasValidation = validation;
    r.valLoss = r.loss * 1.1 + 0.02 * (e > 6 ? e - 6 : 0);
    r.valAccuracy = r.accuracy - 0.01;
    r.seconds = 10 + e;
    records.push_back(r);
  }
  return records;
}

TEST_F(HistoryTest, CsvMatchesKerasLayout) {
  std::vector<EpochRecord> records(3);
  records[0] = {1, 0.5, 0.875, true, 0.25, 1.0, 12.5};
  records[1] = {2, 0.1, 0.9375, false, 0, 0, 3.0};
  records[2] = {3, 1e-05, 0.0001, true, 2.5e16, 0.3, 0.1 + 0.2};
  std::string p = path("history.csv");
  ASSERT_TRUE(writeHistoryCsv(p, records).ok());
  EXPECT_EQ(readText(p), "epoch,accuracy,loss,val_accuracy,val_loss,seconds\n"
                         "0,0.875,0.5,1.0,0.25,12.5\n"
                         "1,0.9375,0.1,,,3.0\n"
                         "2,0.0001,1e-05,0.3,2.5e+16,0.30000000000000004\n");
  EXPECT_EQ(listDir(), std::vector<std::string>{"history.csv"});
}

TEST_F(HistoryTest, CsvSpellsNumbersLikePython) {
  std::vector<EpochRecord> records(1);
  records[0] = {1, NAN, -INFINITY, true, 1234567.0, -0.0, 1e22};
  std::string p = path("h.csv");
  ASSERT_TRUE(writeHistoryCsv(p, records).ok());
  EXPECT_EQ(readText(p), "epoch,accuracy,loss,val_accuracy,val_loss,seconds\n"
                         "0,-inf,nan,-0.0,1234567.0,1e+22\n");
}

TEST_F(HistoryTest, CsvWithNoEpochsHasHeaderOnly) {
  std::string p = path("h.csv");
  ASSERT_TRUE(writeHistoryCsv(p, {}).ok());
  EXPECT_EQ(readText(p), "epoch,accuracy,loss,val_accuracy,val_loss,seconds\n");
}

TEST_F(HistoryTest, SvgHasBothPanelsCurvesAndLegend) {
  std::string p = path("history.svg");
  ASSERT_TRUE(
      writeHistorySvg(p, sampleHistory(10, true), "MNIST <CNN> & friends")
          .ok());
  std::string svg = readText(p);
  EXPECT_TRUE(svg.starts_with("<?xml"));
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            std::string::npos);
  EXPECT_TRUE(isWellFormedXml(svg));
  EXPECT_EQ(countOf(svg, "<polyline"), 4u);
  for (const char *text :
       {">Accuracy</text>", ">Loss</text>", ">Epoch</text>",
        ">Training Accuracy</text>", ">Validation Accuracy</text>",
        ">Training Loss</text>", ">Validation Loss</text>",
        ">MNIST &lt;CNN&gt; &amp; friends</text>", ">10</text>"})
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  EXPECT_EQ(listDir(), std::vector<std::string>{"history.svg"});
}

TEST_F(HistoryTest, SvgHandlesOneEpochWithoutValidation) {
  std::string p = path("one.svg");
  ASSERT_TRUE(writeHistorySvg(p, sampleHistory(1, false), "one").ok());
  std::string svg = readText(p);
  EXPECT_TRUE(isWellFormedXml(svg));
  EXPECT_EQ(countOf(svg, "<polyline"), 2u);
  EXPECT_NE(svg.find(">Training Loss</text>"), std::string::npos);
  EXPECT_EQ(svg.find("Validation"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST_F(HistoryTest, SvgSurvivesEmptyAndDivergedHistories) {
  std::string p = path("h.svg");
  ASSERT_TRUE(writeHistorySvg(p, {}, "empty").ok());
  EXPECT_TRUE(isWellFormedXml(readText(p)));

  std::vector<EpochRecord> records = sampleHistory(6, true);
  records[3].loss = NAN;
  records[4].valLoss = INFINITY;
  ASSERT_TRUE(writeHistorySvg(p, records, "diverged").ok());
  std::string svg = readText(p);
  EXPECT_TRUE(isWellFormedXml(svg));
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // Each broken loss curve is drawn as two runs.
  EXPECT_EQ(countOf(svg, "<polyline"), 6u);
}

TEST_F(HistoryTest, FailedWritesLeaveNothing) {
  std::string p = path("missing-dir/h.csv");
  absl::Status st = writeHistoryCsv(p, sampleHistory(2, true));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(p + ".tmp."), absl::string_view::npos)
      << st.message();
  st = writeHistorySvg(path("missing-dir/h.svg"), sampleHistory(2, true), "t");
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(listDir().empty());
}

} // namespace
} // namespace cnnc::runtime
