#include "passes/GraphCopy.h"

#include "ir/Verifier.h"

#include "absl/status/status.h"
#include <fmt/format.h>

namespace cnnc::passes {

using ir::Graph;
using ir::Op;
using ir::OpKind;
using ir::ValueId;

namespace {

// The final softmax: the op that defines output "probs" from output "logits".
absl::StatusOr<size_t> findFinalSoftmax(const Graph &g) {
  ValueId logits = g.output("logits");
  if (logits < 0)
    return absl::InvalidArgumentError(
        "the loss needs a model that ends in softmax: the forward graph has "
        "no 'logits' output");
  ValueId probs = g.output("probs");
  int32_t def = probs < 0 ? -1 : g.value(probs).definingOp;
  if (def < 0 || g.ops()[def].kind != OpKind::Softmax ||
      g.ops()[def].operands[0] != logits)
    return absl::InvalidArgumentError(
        "the loss needs a model that ends in softmax: output 'probs' is not "
        "softmax(logits)");
  return static_cast<size_t>(def);
}

// The moving average each value feeds: value -> the operand 0 of the
// moving_average_update whose operand 1 it is (batch_norm's mean and
// variance results), -1 for other values.
std::vector<ValueId> movingAverages(const Graph &g) {
  std::vector<ValueId> moving(g.values().size(), -1);
  for (const Op &op : g.ops())
    if (op.kind == OpKind::MovingAverageUpdate)
      moving[op.operands[1]] = op.operands[0];
  return moving;
}

// batch_norm(x, [gamma], [beta]) -> batch_norm_inference(x, moving mean,
// moving variance, [gamma], [beta]), operands already mapped.
absl::StatusOr<ValueId> inferenceBatchNorm(Graph &g, const Graph &forward,
                                           const Op &op,
                                           const std::vector<ValueId> &operands,
                                           const std::vector<ValueId> &moving,
                                           const std::vector<ValueId> &map) {
  ValueId mean = moving[op.results[1]], variance = moving[op.results[2]];
  if (mean < 0 || variance < 0 || map[mean] < 0 || map[variance] < 0)
    return absl::InvalidArgumentError(fmt::format(
        "batch_norm %{} has no moving mean and variance (moving_average_update "
        "of its statistics) to use in inference",
        forward.value(op.results[0]).name));
  std::vector<ValueId> inferenceOperands{operands[0], map[mean], map[variance]};
  inferenceOperands.insert(inferenceOperands.end(), operands.begin() + 1,
                           operands.end());
  return g.create1(OpKind::BatchNormInference, std::move(inferenceOperands),
                   op.attrs, op.loc, forward.value(op.results[0]).name);
}

bool isRandomAugmentation(OpKind k) {
  switch (k) {
  case OpKind::RandomFlip:
  case OpKind::RandomRotation:
  case OpKind::RandomZoom:
  case OpKind::RandomTranslation:
  case OpKind::RandomContrast:
  case OpKind::RandomBrightness:
  case OpKind::RandomCrop:
    return true;
  default:
    return false;
  }
}

} // namespace

absl::StatusOr<CopiedGraph> copyForward(const Graph &forward,
                                        const std::string &name,
                                        const CopyOptions &options) {
  if (absl::Status s = ir::verifyGraph(forward); !s.ok())
    return absl::InvalidArgumentError(
        fmt::format("invalid forward graph: {}", std::string(s.message())));
  size_t softmaxOp = forward.ops().size();
  if (options.addLossHead) {
    auto found = findFinalSoftmax(forward);
    if (!found.ok())
      return found.status();
    softmaxOp = *found;
  }

  CopiedGraph out{Graph(name),
                  std::vector<ValueId>(forward.values().size(), -1)};
  Graph &g = out.graph;
  std::vector<ValueId> &map = out.map;
  for (size_t i = 0; i < forward.values().size(); ++i) {
    const ir::Value &v = forward.values()[i];
    switch (v.kind) {
    case ir::ValueKind::Input:
      map[i] = g.addInput(v.name, v.type);
      break;
    case ir::ValueKind::Param:
      map[i] = g.addParam(v.name, v.type, v.attrs);
      break;
    case ir::ValueKind::State:
      map[i] = g.addState(v.name, v.type);
      break;
    case ir::ValueKind::Temp:
      continue;
    }
    g.setAttrs(map[i], v.attrs);
  }
  ValueId labels = -1;
  if (options.addLossHead) {
    int64_t batch = forward.type(forward.output("logits")).shape[0];
    labels = g.addInput("labels", ir::i32({batch}));
  }

  std::vector<ValueId> moving;
  if (options.movingStatistics)
    moving = movingAverages(forward);
  for (size_t i = 0; i < forward.ops().size(); ++i) {
    const Op &op = forward.ops()[i];
    if (options.movingStatistics && op.kind == OpKind::MovingAverageUpdate)
      continue; // inference leaves the moving statistics as they are
    std::vector<ValueId> operands;
    for (ValueId v : op.operands) {
      if (map[v] < 0)
        return absl::InvalidArgumentError(
            fmt::format("op #{} '{}' uses %{}, which this pass removes", i,
                        opName(op.kind), forward.value(v).name));
      operands.push_back(map[v]);
    }
    if (options.dropDropout && op.kind == OpKind::Dropout) {
      map[op.results[0]] = operands[0];
      continue; // the mask (result 1) stays unmapped: nothing may use it
    }
    if (options.dropDropout && isRandomAugmentation(op.kind)) {
      if (op.kind == OpKind::RandomCrop) {
        // Inference crops deterministically (the center window, resized).
        ir::Attrs attrs = op.attrs;
        attrs.set(ir::AttrName::Training, int64_t{0});
        auto y = g.create1(op.kind, std::move(operands), std::move(attrs),
                           op.loc, forward.value(op.results[0]).name);
        if (!y.ok())
          return y.status();
        map[op.results[0]] = *y;
        continue;
      }
      map[op.results[0]] = operands[0];
      continue; // augmentations are the identity in inference
    }
    if (options.movingStatistics && op.kind == OpKind::BatchNorm) {
      auto y = inferenceBatchNorm(g, forward, op, operands, moving, map);
      if (!y.ok())
        return y.status();
      map[op.results[0]] = *y;
      continue; // the batch statistics stay unmapped
    }
    if (i == softmaxOp) {
      // The loss op computes the probabilities itself, from the logits.
      auto head =
          g.create(OpKind::SoftmaxCrossEntropy, {operands[0], labels}, {},
                   op.loc, {"loss", forward.value(op.results[0]).name});
      if (!head.ok())
        return head.status();
      map[op.results[0]] = (*head)[1];
      auto correct = g.create1(OpKind::CountCorrect, {(*head)[1], labels}, {},
                               op.loc, "correct");
      if (!correct.ok())
        return correct.status();
      g.addOutput("loss", (*head)[0]);
      g.addOutput("correct", *correct);
      g.addOutput("probs", (*head)[1]);
      continue;
    }
    std::vector<ir::TensorType> types;
    std::vector<std::string> names;
    for (ValueId r : op.results) {
      types.push_back(forward.type(r));
      names.push_back(forward.value(r).name);
    }
    std::vector<ValueId> results =
        g.append(op.kind, std::move(operands), std::move(types), op.attrs,
                 op.loc, std::move(names));
    for (size_t r = 0; r < results.size(); ++r)
      map[op.results[r]] = results[r];
  }
  return out;
}

} // namespace cnnc::passes
