// The augmentation layers and rescaling: Keras 3's defaults and factor
// readings, what they lower to (attributes, seeds, salts), the summary, and
// that random_crop changes the shape.
#include "frontend/Frontend.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

namespace cnnc::frontend {
namespace {

using ir::OpKind;

std::string model(const std::string &layers) {
  return "model m {\n  input shape=(9, 8, 2)\n" + layers +
         "  flatten\n  dense units=10 activation=softmax\n}\n"
         "fit seed=77\n";
}

LoweredModel lowerOk(const std::string &source) {
  ParseResult r = parseProgram(source, "t.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  if (!r.program)
    return LoweredModel{ir::Graph(""), {}};
  ir::TrainingSpec spec = trainingSpec(*r.program);
  spec.fit.batchSize = 4;
  LowerResult l = lowerModel(*r.program, spec);
  EXPECT_FALSE(l.error) << l.error->str();
  if (!l.model)
    return LoweredModel{ir::Graph(""), {}};
  absl::Status s = ir::verifyGraph(l.model->forward);
  EXPECT_TRUE(s.ok()) << std::string(s.message());
  return *std::move(l.model);
}

const ir::Op &onlyOp(const ir::Graph &g, OpKind kind) {
  const ir::Op *found = nullptr;
  for (const ir::Op &op : g.ops())
    if (op.kind == kind) {
      EXPECT_EQ(found, nullptr) << "two " << ir::opName(kind);
      found = &op;
    }
  EXPECT_NE(found, nullptr) << "no " << ir::opName(kind);
  static const ir::Op none{};
  return found ? *found : none;
}

TEST(AugmentLayers, KerasDefaults) {
  LoweredModel m = lowerOk(model("  random_flip\n"
                                 "  random_rotation 0.2\n"
                                 "  random_zoom 0.1\n"
                                 "  random_translation 0.1 (-0.2, 0.3)\n"
                                 "  random_contrast 0.4\n"
                                 "  random_brightness (0.3, -0.1)\n"
                                 "  rescaling 2\n"));
  const ir::Graph &g = m.forward;
  const ir::Op &flip = onlyOp(g, OpKind::RandomFlip);
  EXPECT_EQ(flip.attrs.getString(ir::AttrName::Mode),
            "horizontal_and_vertical");
  EXPECT_EQ(flip.attrs.getInt(ir::AttrName::Seed), 77); // fit's seed
  EXPECT_EQ(flip.attrs.getInt(ir::AttrName::Salt), 0);  // the layer index
  const ir::Op &rot = onlyOp(g, OpKind::RandomRotation);
  EXPECT_EQ(rot.attrs.getFloat(ir::AttrName::Lower), -0.2);
  EXPECT_EQ(rot.attrs.getFloat(ir::AttrName::Upper), 0.2);
  EXPECT_EQ(rot.attrs.getString(ir::AttrName::FillMode), "reflect");
  EXPECT_EQ(rot.attrs.getString(ir::AttrName::Interpolation), "bilinear");
  EXPECT_EQ(rot.attrs.getFloat(ir::AttrName::FillValue), 0.0);
  EXPECT_EQ(rot.attrs.getInt(ir::AttrName::Salt), 1);
  const ir::Op &zoom = onlyOp(g, OpKind::RandomZoom);
  EXPECT_EQ(zoom.attrs.getInt(ir::AttrName::KeepAspect),
            1); // width_factor=None
  EXPECT_EQ(zoom.attrs.getFloat(ir::AttrName::HeightLower), -0.1);
  const ir::Op &shift = onlyOp(g, OpKind::RandomTranslation);
  EXPECT_EQ(shift.attrs.getFloat(ir::AttrName::WidthLower), -0.2);
  EXPECT_EQ(shift.attrs.getFloat(ir::AttrName::WidthUpper), 0.3);
  const ir::Op &contrast = onlyOp(g, OpKind::RandomContrast);
  // A number f: the factor is uniform in [1 - f, 1 + f].
  EXPECT_EQ(contrast.attrs.getFloat(ir::AttrName::Lower), 0.4);
  EXPECT_EQ(contrast.attrs.getFloat(ir::AttrName::Upper), 0.4);
  EXPECT_EQ(contrast.attrs.getFloat(ir::AttrName::ValueLow), 0.0);
  EXPECT_EQ(contrast.attrs.getFloat(ir::AttrName::ValueHigh), 1.0);
  const ir::Op &bright = onlyOp(g, OpKind::RandomBrightness);
  EXPECT_EQ(bright.attrs.getFloat(ir::AttrName::Lower),
            -0.1); // a pair is sorted
  EXPECT_EQ(bright.attrs.getFloat(ir::AttrName::Upper), 0.3);
  const ir::Op &rescale = onlyOp(g, OpKind::Rescale);
  EXPECT_EQ(rescale.attrs.getFloat(ir::AttrName::Scale), 2.0);
  EXPECT_EQ(rescale.attrs.getFloat(ir::AttrName::Offset), 0.0);
  // Keras's summary names, no params, shapes unchanged.
  ASSERT_GE(m.layers.size(), 7u);
  EXPECT_EQ(m.layers[0].type, "RandomFlip");
  EXPECT_EQ(m.layers[6].type, "Rescaling");
  EXPECT_EQ(m.layers[1].name, "random_rotation");
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(m.layers[i].params, 0);
    EXPECT_EQ(m.layers[i].outputShape, (std::vector<int64_t>{9, 8, 2}));
  }
}

TEST(AugmentLayers, ExplicitArguments) {
  LoweredModel m =
      lowerOk(model("  random_zoom (-0.3, 0.1) 0.2 constant nearest 5 0.5\n"
                    "  random_flip mode=vertical seed=3\n"
                    "  random_contrast (0.1, 0.2) value_range=(255, 0)\n"
                    "  random_crop 5 4\n"
                    "  rescaling scale=0.5 offset=-1\n"));
  const ir::Graph &g = m.forward;
  const ir::Op &zoom = onlyOp(g, OpKind::RandomZoom);
  EXPECT_EQ(zoom.attrs.getInt(ir::AttrName::KeepAspect), 0);
  EXPECT_EQ(zoom.attrs.getFloat(ir::AttrName::HeightLower), -0.3);
  EXPECT_EQ(zoom.attrs.getFloat(ir::AttrName::HeightUpper), 0.1);
  EXPECT_EQ(zoom.attrs.getFloat(ir::AttrName::WidthLower), -0.2);
  EXPECT_EQ(zoom.attrs.getString(ir::AttrName::FillMode), "constant");
  EXPECT_EQ(zoom.attrs.getString(ir::AttrName::Interpolation), "nearest");
  EXPECT_EQ(zoom.attrs.getInt(ir::AttrName::Seed), 5);
  EXPECT_EQ(zoom.attrs.getFloat(ir::AttrName::FillValue), 0.5);
  EXPECT_EQ(onlyOp(g, OpKind::RandomFlip).attrs.getString(ir::AttrName::Mode),
            "vertical");
  EXPECT_EQ(onlyOp(g, OpKind::RandomFlip).attrs.getInt(ir::AttrName::Seed), 3);
  const ir::Op &contrast = onlyOp(g, OpKind::RandomContrast);
  EXPECT_EQ(contrast.attrs.getFloat(ir::AttrName::Lower), 0.1);
  EXPECT_EQ(contrast.attrs.getFloat(ir::AttrName::ValueHigh), 255.0);
  const ir::Op &crop = onlyOp(g, OpKind::RandomCrop);
  EXPECT_EQ(crop.attrs.getInt(ir::AttrName::Training), 1);
  EXPECT_EQ(g.type(crop.results[0]), ir::f32({4, 5, 4, 2}));
  EXPECT_EQ(m.layers[3].outputShape, (std::vector<int64_t>{5, 4, 2}));
  EXPECT_EQ(onlyOp(g, OpKind::Rescale).attrs.getFloat(ir::AttrName::Offset),
            -1.0);
}

// rescaling may stand after layers with weights; random_* may follow it.
TEST(AugmentLayers, RescalingStandsAnywhere) {
  LoweredModel m = lowerOk(model("  rescaling 0.5\n"
                                 "  random_flip\n"
                                 "  conv2d 4 3\n"
                                 "  rescaling 2 1\n"));
  EXPECT_EQ(m.layers.size(), 6u);
}

} // namespace
} // namespace cnnc::frontend
