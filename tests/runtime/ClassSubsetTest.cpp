// classes=[...] on loaded data (runtime/ClassSubset.h): the examples kept,
// their order, the new labels, the names, and one-line errors; and the
// recipe a backup records names the subset.
#include "runtime/ClassSubset.h"
#include "ir/TrainingSpec.h"
#include "runtime/Backup.h"

#include <gtest/gtest.h>

#include <map>

namespace cnnc::runtime {
namespace {

// `labels.size()` 1x2 images whose pixels are (index, label), so that each
// kept image can be traced to its source.
LabeledImages sample(const std::vector<uint8_t> &labels,
                     std::vector<std::string> names = {}) {
  LabeledImages d;
  d.images.count = static_cast<int64_t>(labels.size());
  d.images.rows = 1;
  d.images.cols = 2;
  for (size_t i = 0; i < labels.size(); ++i) {
    d.images.pixels.push_back(static_cast<uint8_t>(i));
    d.images.pixels.push_back(labels[i]);
  }
  d.labels = labels;
  d.classNames = std::move(names);
  return d;
}

std::string errorOf(const LabeledImages &d, const std::vector<int64_t> &c) {
  auto r = selectClasses(d, c, "classes", "the training data");
  return r.ok() ? "(no error)" : std::string(r.status().message());
}

TEST(ClassSubset, KeepsTheClassesInOrderAndRenumbersThemAsGiven) {
  LabeledImages d = sample({3, 9, 5, 0, 9, 5, 5, 1});
  auto r = selectClasses(d, {9, 5}, "classes", "the training data");
  ASSERT_TRUE(r.ok()) << r.status();
  // Images 1, 2, 4, 5, 6 in their order; 9 -> 0, 5 -> 1.
  EXPECT_EQ(r->labels, (std::vector<uint8_t>{0, 1, 0, 1, 1}));
  EXPECT_EQ(r->images.count, 5);
  EXPECT_EQ(r->images.rows, 1);
  EXPECT_EQ(r->images.cols, 2);
  EXPECT_EQ(r->images.pixels,
            (std::vector<uint8_t>{1, 9, 2, 5, 4, 9, 5, 5, 6, 5}));
  // Data without names is named by its original labels.
  EXPECT_EQ(r->classNames, (std::vector<std::string>{"9", "5"}));
  EXPECT_EQ(subsetLog(d, *r), "Keeping 2 of 10 classes (9, 5): 5 images.\n");
}

TEST(ClassSubset, NamedClassesKeepTheirNamesInTheNewOrder) {
  LabeledImages d = sample({0, 1, 2, 2, 1, 0}, {"bird", "cat", "dog"});
  auto r = selectClasses(d, {2, 0}, "classes", "the training data");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->classNames, (std::vector<std::string>{"dog", "bird"}));
  EXPECT_EQ(r->labels, (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(subsetLog(d, *r),
            "Keeping 2 of 3 classes (dog, bird): 4 images.\n");
}

TEST(ClassSubset, ErrorsNameTheValueAndTheClassesTheDataHas) {
  // Without names the data has its largest label plus one classes.
  LabeledImages d = sample({3, 9, 5, 0});
  EXPECT_EQ(errorOf(d, {5, 12}), "classes: 12 is not a class of the training "
                                 "data, which has 10 classes (0 to 9)");
  EXPECT_EQ(errorOf(d, {10}), "classes: 10 is not a class of the training "
                              "data, which has 10 classes (0 to 9)");
  EXPECT_EQ(errorOf(sample({1, 0, 2}, {"bird", "cat", "dog"}), {3}),
            "classes: 3 is not a class of the training data, which has 3 "
            "classes (0 to 2: bird, cat, dog)");
  EXPECT_EQ(errorOf(d, {-1}), "classes: -1 is not a class of the training "
                              "data, which has 10 classes (0 to 9)");
  EXPECT_EQ(errorOf(d, {5, 3, 5}), "classes: class 5 is listed twice");
  EXPECT_EQ(errorOf(d, {}), "classes: expects at least one class");
  // 7 is below the largest label, but no image has it.
  EXPECT_EQ(errorOf(d, {7}), "classes: none of the 4 examples of the "
                             "training data is of the classes kept");
  LabeledImages broken = d;
  broken.labels.pop_back();
  EXPECT_NE(errorOf(broken, {5})
                .find("holds 3 labels and 8 pixels for 4 "
                      "images"),
            std::string::npos);
}

// A backup records the recipe's hash: a run on another subset must not
// resume from it, and a recipe without classes reads as before they
// existed (old backups still resume).
TEST(ClassSubset, TheBackupRecipeNamesTheSubset) {
  ir::TrainingSpec all, upper, lower, reordered;
  upper.fit.classes = {5, 6, 7, 8, 9};
  lower.fit.classes = {0, 1, 2, 3, 4};
  reordered.fit.classes = {6, 5, 7, 8, 9};
  std::string a = recipeText(all);
  EXPECT_EQ(a.find("classes"), std::string::npos) << a;
  EXPECT_NE(recipeText(upper), a);
  EXPECT_NE(recipeText(upper), recipeText(lower));
  EXPECT_NE(recipeText(upper), recipeText(reordered));
  EXPECT_NE(recipeText(upper).find("classes [5 6 7 8 9]\n"), std::string::npos);
}

} // namespace
} // namespace cnnc::runtime
