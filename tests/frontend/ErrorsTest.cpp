// Every diagnostic, asserted on its full rendered text: file:line:col, the
// message, the quoted source line and the caret.
#include "frontend/Frontend.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cnnc::frontend {
namespace {

// A valid model; lines 1-5.
const std::string kBase = "model m {\n  input shape=(28, 28, 1)\n  flatten\n"
                          "  dense units=10 activation=softmax\n}\n";

// kBase followed by `lines` (the first is line 6).
std::string statements(const std::vector<std::string> &lines) {
  std::string s = kBase;
  for (const std::string &l : lines)
    s += l + "\n";
  return s;
}

// A model whose input has `shape`, followed by `lines` (the first is line 3)
// and `tail`.
std::string layers(const std::vector<std::string> &lines,
                   const std::string &shape = "(28, 28, 1)",
                   const std::string &tail = "  flatten\n  dense units=10 "
                                             "activation=softmax\n") {
  std::string s = "model m {\n  input shape=" + shape + "\n";
  for (const std::string &l : lines)
    s += l + "\n";
  return s + tail + "}\n";
}

std::string parseError(const std::string &source) {
  ParseResult r = parseProgram(source, "m.dsl");
  if (!r.error)
    return "(no error)";
  EXPECT_FALSE(r.program);
  return r.error->str();
}

std::string lowerError(const std::string &source) {
  ParseResult r = parseProgram(source, "m.dsl");
  if (r.error)
    return "(parse error) " + r.error->str();
  LowerResult l = lowerModel(*r.program, trainingSpec(*r.program));
  if (!l.error)
    return "(no error)";
  EXPECT_FALSE(l.model);
  return l.error->str();
}

TEST(ParseErrors, BadCharacter) {
  EXPECT_EQ(parseError(layers({"  dense units=10 activation=relu $"})),
            R"(m.dsl:3:34: error: unexpected character '$'
    dense units=10 activation=relu $
                                   ^)");
}

TEST(ParseErrors, UnterminatedString) {
  EXPECT_EQ(parseError(statements({"fit dataset=idx(\"data/x"})),
            R"(m.dsl:6:17: error: unterminated string
  fit dataset=idx("data/x
                  ^)");
}

TEST(ParseErrors, BadNumber) {
  EXPECT_EQ(parseError(layers({"  dropout rate=0.2.5"})),
            R"(m.dsl:3:16: error: bad number '0.2.5'
    dropout rate=0.2.5
                 ^)");
}

TEST(ParseErrors, NumberTooLarge) {
  EXPECT_EQ(parseError(statements({"fit epochs=12345678901234567890"})),
            R"(m.dsl:6:12: error: bad number '12345678901234567890': too large
  fit epochs=12345678901234567890
             ^)");
}

TEST(ParseErrors, UnknownLayer) {
  EXPECT_EQ(parseError(layers({"  conv3d filters=32"})),
            R"(m.dsl:3:3: error: unknown layer 'conv3d'; did you mean 'conv2d'?
    conv3d filters=32
    ^)");
}

TEST(ParseErrors, UnknownLayerKerasSpelling) {
  EXPECT_EQ(
      parseError(layers({"  MaxPooling2D pool_size=2"})),
      R"(m.dsl:3:3: error: unknown layer 'MaxPooling2D'; did you mean 'max_pooling2d'?
    MaxPooling2D pool_size=2
    ^)");
}

TEST(ParseErrors, UnknownLayerNothingClose) {
  EXPECT_EQ(
      parseError(layers({"  lstm units=8"})),
      R"(m.dsl:3:3: error: unknown layer 'lstm'; expected one of input, conv2d, max_pooling2d, average_pooling2d, global_average_pooling2d, batch_normalization, dropout, flatten, dense, activation, leaky_re_lu, elu, zero_padding2d
    lstm units=8
    ^)");
}

TEST(ParseErrors, UnknownArgument) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filter=32 kernel_size=3"})),
      R"(m.dsl:3:10: error: unknown argument 'filter' for conv2d; did you mean 'filters'?
    conv2d filter=32 kernel_size=3
           ^)");
}

TEST(ParseErrors, UnknownArgumentNothingClose) {
  EXPECT_EQ(
      parseError(layers({"  dense units=10 bias=true"})),
      R"(m.dsl:3:18: error: unknown argument 'bias' for dense; expected one of units, activation, use_bias, name
    dense units=10 bias=true
                   ^)");
}

TEST(ParseErrors, UnknownActivation) {
  EXPECT_EQ(
      parseError(layers({"  dense units=10 activation=relux"})),
      R"(m.dsl:3:29: error: unknown activation 'relux'; did you mean 'relu'?
    dense units=10 activation=relux
                              ^)");
}

TEST(ParseErrors, UnknownPadding) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=8 kernel_size=3 padding=full"})),
      R"(m.dsl:3:42: error: unknown padding 'full'; expected one of valid, same
    conv2d filters=8 kernel_size=3 padding=full
                                           ^)");
}

TEST(ParseErrors, UnknownStatement) {
  EXPECT_EQ(parseError(statements({"fitt dataset=mnist"})),
            R"(m.dsl:6:1: error: unknown statement 'fitt'; did you mean 'fit'?
  fitt dataset=mnist
  ^)");
}

TEST(ParseErrors, UnknownStatementNothingClose) {
  EXPECT_EQ(
      parseError(statements({"train epochs=3"})),
      R"(m.dsl:6:1: error: unknown statement 'train'; expected one of model, compile, fit
  train epochs=3
  ^)");
}

TEST(ParseErrors, UnknownLoss) {
  EXPECT_EQ(
      parseError(statements({"compile loss=mse"})),
      R"(m.dsl:6:14: error: unknown loss 'mse'; expected one of categorical_crossentropy, sparse_categorical_crossentropy
  compile loss=mse
               ^)");
}

TEST(ParseErrors, MisspelledLoss) {
  EXPECT_EQ(
      parseError(statements({"compile loss=categorical_crossentopy"})),
      R"(m.dsl:6:14: error: unknown loss 'categorical_crossentopy'; did you mean 'categorical_crossentropy'?
  compile loss=categorical_crossentopy
               ^)");
}

TEST(ParseErrors, UnknownOptimizer) {
  EXPECT_EQ(
      parseError(statements({"compile optimizer=adamw"})),
      R"(m.dsl:6:19: error: unknown optimizer 'adamw'; did you mean 'adam'?
  compile optimizer=adamw
                    ^)");
}

TEST(ParseErrors, UnknownOptimizerArgument) {
  EXPECT_EQ(
      parseError(statements({"compile optimizer=adam(lr=0.01)"})),
      R"(m.dsl:6:24: error: unknown argument 'lr' for adam; expected one of learning_rate, beta_1, beta_2, epsilon
  compile optimizer=adam(lr=0.01)
                         ^)");
}

TEST(ParseErrors, MisspelledOptimizerArgument) {
  EXPECT_EQ(
      parseError(statements({"compile optimizer=rmsprop(rh=0.5)"})),
      R"(m.dsl:6:27: error: unknown argument 'rh' for rmsprop; did you mean 'rho'?
  compile optimizer=rmsprop(rh=0.5)
                            ^)");
}

TEST(ParseErrors, PositionalOptimizerArgument) {
  EXPECT_EQ(parseError(statements({"compile optimizer=sgd(0.1)"})),
            R"(m.dsl:6:23: error: sgd takes name=value arguments, got 0.1
  compile optimizer=sgd(0.1)
                        ^)");
}

TEST(ParseErrors, UnknownMetric) {
  EXPECT_EQ(parseError(statements({"compile metrics=[acc]"})),
            R"(m.dsl:6:18: error: unknown metric 'acc'; expected accuracy
  compile metrics=[acc]
                   ^)");
}

TEST(ParseErrors, UnknownDataset) {
  EXPECT_EQ(parseError(statements({"fit dataset=mnsit"})),
            R"(m.dsl:6:13: error: unknown dataset 'mnsit'; did you mean 'mnist'?
  fit dataset=mnsit
              ^)");
}

TEST(ParseErrors, UnknownValidation) {
  EXPECT_EQ(
      parseError(statements({"fit validation=train"})),
      R"(m.dsl:6:16: error: unknown validation 'train'; expected one of test, none
  fit validation=train
                 ^)");
}

TEST(ParseErrors, KernelSizeString) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=32 kernel_size=\"3\""})),
      R"(m.dsl:3:33: error: kernel_size expects an integer or (h, w), got a string
    conv2d filters=32 kernel_size="3"
                                  ^)");
}

TEST(ParseErrors, KernelSizeTriple) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=8 kernel_size=(3, 3, 3)"})),
      R"(m.dsl:3:32: error: kernel_size expects an integer or (h, w), got a tuple of 3 values
    conv2d filters=8 kernel_size=(3, 3, 3)
                                 ^)");
}

TEST(ParseErrors, FiltersFloat) {
  EXPECT_EQ(parseError(layers({"  conv2d filters=3.5 kernel_size=3"})),
            R"(m.dsl:3:18: error: filters expects an integer, got 3.5
    conv2d filters=3.5 kernel_size=3
                   ^)");
}

TEST(ParseErrors, RateName) {
  EXPECT_EQ(parseError(layers({"  dropout rate=high"})),
            R"(m.dsl:3:16: error: rate expects a number, got the name 'high'
    dropout rate=high
                 ^)");
}

TEST(ParseErrors, UseBiasCapitalized) {
  EXPECT_EQ(
      parseError(layers({"  dense units=4 use_bias=True"})),
      R"(m.dsl:3:26: error: use_bias expects true or false, got the name 'True'; did you mean 'true'?
    dense units=4 use_bias=True
                           ^)");
}

TEST(ParseErrors, UseBiasInteger) {
  EXPECT_EQ(parseError(layers({"  dense units=4 use_bias=1"})),
            R"(m.dsl:3:26: error: use_bias expects true or false, got 1
    dense units=4 use_bias=1
                           ^)");
}

TEST(ParseErrors, ActivationInteger) {
  EXPECT_EQ(
      parseError(layers({"  dense units=4 activation=3"})),
      R"(m.dsl:3:28: error: activation expects one of linear, relu, sigmoid, tanh, leaky_relu, elu, gelu, swish, silu, softmax, got 3
    dense units=4 activation=3
                             ^)");
}

TEST(ParseErrors, ShapePair) {
  EXPECT_EQ(
      parseError(layers({}, "(28, 28)")),
      R"(m.dsl:2:15: error: shape expects (h, w, c), got a tuple of 2 values
    input shape=(28, 28)
                ^)");
}

TEST(ParseErrors, ShapeString) {
  EXPECT_EQ(parseError(layers({}, "(28, \"28\", 1)")),
            R"(m.dsl:2:20: error: shape expects integers, got a string
    input shape=(28, "28", 1)
                     ^)");
}

TEST(ParseErrors, ReservedName) {
  EXPECT_EQ(
      parseError(layers({"  dense units=4 name=labels"})),
      R"(m.dsl:3:22: error: layer name 'labels' is reserved for a graph value
    dense units=4 name=labels
                       ^)");
}

TEST(ParseErrors, NameInteger) {
  EXPECT_EQ(parseError(layers({"  dense units=4 name=3"})),
            R"(m.dsl:3:22: error: name expects an identifier, got 3
    dense units=4 name=3
                       ^)");
}

TEST(ParseErrors, NameNotIdentifier) {
  EXPECT_EQ(
      parseError(layers({"  dense units=4 name=\"my layer\""})),
      R"(m.dsl:3:22: error: layer name "my layer" is not an identifier (letters, digits and _, not starting with a digit)
    dense units=4 name="my layer"
                       ^)");
}

TEST(ParseErrors, OptimizerString) {
  EXPECT_EQ(
      parseError(statements({"compile optimizer=\"adam\""})),
      R"(m.dsl:6:19: error: optimizer expects sgd, adam or rmsprop, optionally with arguments as in adam(learning_rate=0.001), got a string
  compile optimizer="adam"
                    ^)");
}

TEST(ParseErrors, MetricsNotAList) {
  EXPECT_EQ(
      parseError(statements({"compile metrics=accuracy"})),
      R"(m.dsl:6:17: error: metrics expects a list such as [accuracy], got the name 'accuracy'
  compile metrics=accuracy
                  ^)");
}

TEST(ParseErrors, ShuffleName) {
  EXPECT_EQ(
      parseError(statements({"fit shuffle=yes"})),
      R"(m.dsl:6:13: error: shuffle expects true or false, got the name 'yes'
  fit shuffle=yes
              ^)");
}

TEST(ParseErrors, IdxWithoutPrefix) {
  EXPECT_EQ(
      parseError(statements({"fit dataset=idx"})),
      R"(m.dsl:6:13: error: dataset idx needs a path prefix, as in idx("data/mnist/")
  fit dataset=idx
              ^)");
}

TEST(ParseErrors, IdxEmptyPrefix) {
  EXPECT_EQ(parseError(statements({"fit dataset=idx(\"\")"})),
            R"(m.dsl:6:17: error: the idx path prefix is empty
  fit dataset=idx("")
                  ^)");
}

TEST(ParseErrors, FiltersZero) {
  EXPECT_EQ(parseError(layers({"  conv2d filters=0 kernel_size=3"})),
            R"(m.dsl:3:18: error: filters must be at least 1, got 0
    conv2d filters=0 kernel_size=3
                   ^)");
}

TEST(ParseErrors, UnitsTooLarge) {
  EXPECT_EQ(
      parseError(layers({"  dense units=3000000000"})),
      R"(m.dsl:3:15: error: units must be at most 2147483647, got 3000000000
    dense units=3000000000
                ^)");
}

TEST(ParseErrors, KernelSizeZero) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=8 kernel_size=(3, 0)"})),
      R"(m.dsl:3:36: error: kernel_size must be between 1 and 2147483647, got 0
    conv2d filters=8 kernel_size=(3, 0)
                                     ^)");
}

TEST(ParseErrors, NegativeStrides) {
  EXPECT_EQ(
      parseError(layers({"  max_pooling2d strides=-1"})),
      R"(m.dsl:3:25: error: strides must be between 1 and 2147483647, got -1
    max_pooling2d strides=-1
                          ^)");
}

TEST(ParseErrors, RateOne) {
  EXPECT_EQ(parseError(layers({"  dropout rate=1.5"})),
            R"(m.dsl:3:16: error: rate must be in [0, 1), got 1.5
    dropout rate=1.5
                 ^)");
}

TEST(ParseErrors, NegativeShape) {
  EXPECT_EQ(
      parseError(layers({}, "(28, -28, 1)")),
      R"(m.dsl:2:20: error: shape must be between 1 and 2147483647, got -28
    input shape=(28, -28, 1)
                     ^)");
}

TEST(ParseErrors, NegativeEpochs) {
  EXPECT_EQ(parseError(statements({"fit epochs=-1"})),
            R"(m.dsl:6:12: error: epochs must be at least 1, got -1
  fit epochs=-1
             ^)");
}

TEST(ParseErrors, ZeroBatchSize) {
  EXPECT_EQ(parseError(statements({"fit batch_size=0"})),
            R"(m.dsl:6:16: error: batch_size must be at least 1, got 0
  fit batch_size=0
                 ^)");
}

TEST(ParseErrors, NegativeSeed) {
  EXPECT_EQ(parseError(statements({"fit seed=-5"})),
            R"(m.dsl:6:10: error: seed must be at least 0, got -5
  fit seed=-5
           ^)");
}

TEST(ParseErrors, ZeroLearningRate) {
  EXPECT_EQ(parseError(statements({"compile optimizer=sgd(learning_rate=0)"})),
            R"(m.dsl:6:37: error: learning_rate must be positive, got 0
  compile optimizer=sgd(learning_rate=0)
                                      ^)");
}

TEST(ParseErrors, MomentumAboveOne) {
  EXPECT_EQ(parseError(statements({"compile optimizer=sgd(momentum=1.5)"})),
            R"(m.dsl:6:32: error: momentum must be in [0, 1], got 1.5
  compile optimizer=sgd(momentum=1.5)
                                 ^)");
}

TEST(ParseErrors, BetaOne) {
  EXPECT_EQ(parseError(statements({"compile optimizer=adam(beta_1=1)"})),
            R"(m.dsl:6:31: error: beta_1 must be in [0, 1), got 1
  compile optimizer=adam(beta_1=1)
                                ^)");
}

TEST(ParseErrors, MissingFilters) {
  EXPECT_EQ(parseError(layers({"  conv2d kernel_size=3"})),
            R"(m.dsl:3:3: error: missing required argument 'filters' for conv2d
    conv2d kernel_size=3
    ^)");
}

TEST(ParseErrors, MissingKernelSize) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=3"})),
      R"(m.dsl:3:3: error: missing required argument 'kernel_size' for conv2d
    conv2d filters=3
    ^)");
}

TEST(ParseErrors, MissingUnits) {
  EXPECT_EQ(parseError(layers({"  dense activation=relu"})),
            R"(m.dsl:3:3: error: missing required argument 'units' for dense
    dense activation=relu
    ^)");
}

TEST(ParseErrors, MissingRate) {
  EXPECT_EQ(parseError(layers({"  dropout"})),
            R"(m.dsl:3:3: error: missing required argument 'rate' for dropout
    dropout
    ^)");
}

TEST(ParseErrors, MissingShape) {
  EXPECT_EQ(parseError("model m {\n  input\n  flatten\n}\n"),
            R"(m.dsl:2:3: error: missing required argument 'shape' for input
    input
    ^)");
}

TEST(ParseErrors, DuplicateArgument) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=32 filters=64 kernel_size=3"})),
      R"(m.dsl:3:21: error: duplicate argument 'filters'
    conv2d filters=32 filters=64 kernel_size=3
                      ^)");
}

TEST(ParseErrors, DuplicateFitArgument) {
  EXPECT_EQ(parseError(statements({"fit epochs=10 epochs=2"})),
            R"(m.dsl:6:15: error: duplicate argument 'epochs'
  fit epochs=10 epochs=2
                ^)");
}

TEST(ParseErrors, DuplicateOptimizerArgument) {
  EXPECT_EQ(parseError(statements(
                {"compile optimizer=adam(epsilon=1e-8, epsilon=1e-6)"})),
            R"(m.dsl:6:38: error: duplicate argument 'epsilon'
  compile optimizer=adam(epsilon=1e-8, epsilon=1e-6)
                                       ^)");
}

TEST(ParseErrors, DuplicateMetric) {
  EXPECT_EQ(parseError(statements({"compile metrics=[accuracy, accuracy]"})),
            R"(m.dsl:6:28: error: duplicate metric 'accuracy'
  compile metrics=[accuracy, accuracy]
                             ^)");
}

TEST(ParseErrors, DuplicateLayerName) {
  EXPECT_EQ(
      parseError(
          layers({"  dense units=4 name=feat", "  dense units=4 name=feat"})),
      R"(m.dsl:4:22: error: duplicate layer name 'feat' (also used on line 3)
    dense units=4 name=feat
                       ^)");
}

TEST(ParseErrors, DuplicateStatement) {
  EXPECT_EQ(parseError(statements(
                {"compile optimizer=sgd", "compile optimizer=adam"})),
            R"(m.dsl:7:1: error: duplicate 'compile' statement
  compile optimizer=adam
  ^)");
}

TEST(ParseErrors, DuplicateModel) {
  EXPECT_EQ(parseError(statements({"model n {"})),
            R"(m.dsl:6:1: error: duplicate 'model' statement
  model n {
  ^)");
}

TEST(ParseErrors, MissingInput) {
  EXPECT_EQ(
      parseError(
          "model m {\n  flatten\n  dense units=10 activation=softmax\n}\n"),
      R"(m.dsl:1:1: error: model 'm' has no input; its first layer must be 'input shape=(h, w, c)'
  model m {
  ^)");
}

TEST(ParseErrors, InputNotFirst) {
  EXPECT_EQ(parseError("model m {\n  flatten\n  input shape=(28, 28, 1)\n  "
                       "dense units=10 activation=softmax\n}\n"),
            R"(m.dsl:3:3: error: input must be the first layer of the model
    input shape=(28, 28, 1)
    ^)");
}

TEST(ParseErrors, InputTwice) {
  EXPECT_EQ(parseError("model m {\n  input shape=(28, 28, 1)\n  input "
                       "shape=(28, 28, 1)\n  flatten\n}\n"),
            R"(m.dsl:3:3: error: duplicate input layer; the first is on line 2
    input shape=(28, 28, 1)
    ^)");
}

TEST(ParseErrors, NoLayers) {
  EXPECT_EQ(parseError("model m {\n  input shape=(28, 28, 1)\n}\n"),
            R"(m.dsl:1:1: error: model 'm' has no layers after its input
  model m {
  ^)");
}

TEST(ParseErrors, NoModel) {
  EXPECT_EQ(
      parseError("compile optimizer=adam\n\n"),
      R"(m.dsl:1:23: error: no model in this file; expected 'model <name> { ... }'
  compile optimizer=adam
                        ^)");
}

TEST(ParseErrors, MissingEquals) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=32 kernel_size"})),
      R"(m.dsl:3:32: error: expected '=' after 'kernel_size', got end of line
    conv2d filters=32 kernel_size
                                 ^)");
}

TEST(ParseErrors, MissingValue) {
  EXPECT_EQ(parseError(layers({"  conv2d filters="})),
            R"(m.dsl:3:18: error: expected a value, got end of line
    conv2d filters=
                   ^)");
}

// A bare value is positional now: conv2d 32 reads as Conv2D(32), which
// still needs its kernel_size.
TEST(ParseErrors, BareValue) {
  EXPECT_EQ(
      parseError(layers({"  conv2d 32"})),
      R"(m.dsl:3:3: error: missing required argument 'kernel_size' for conv2d
    conv2d 32
    ^)");
}

TEST(ParseErrors, PositionalAfterNamed) {
  EXPECT_EQ(
      parseError(layers({"  conv2d filters=32 (3, 3)"})),
      R"(m.dsl:3:21: error: positional argument '(' follows a named argument; positional arguments come first
    conv2d filters=32 (3, 3)
                      ^)");
}

TEST(ParseErrors, TooManyPositional) {
  EXPECT_EQ(
      parseError(layers({"  dense 10 relu true 3"})),
      R"(m.dsl:3:22: error: dense takes at most 3 positional arguments (units, activation, use_bias), got 4
    dense 10 relu true 3
                       ^)");
  EXPECT_EQ(
      parseError(layers({"  dropout 0.5 0.1"})),
      R"(m.dsl:3:15: error: dropout takes at most 1 positional argument (rate), got 2
    dropout 0.5 0.1
                ^)");
}

TEST(ParseErrors, NoPositionalArguments) {
  EXPECT_EQ(
      parseError(layers({"  batch_normalization 0.9"}, "(28, 28, 1)")),
      R"(m.dsl:3:23: error: batch_normalization takes no positional arguments, got 0.9; use name=value
    batch_normalization 0.9
                        ^)");
  EXPECT_EQ(
      parseError(statements({"compile adam"})),
      R"(m.dsl:6:9: error: compile takes name=value arguments, got the name 'adam'
  compile adam
          ^)");
}

// A positional argument that a named one repeats.
TEST(ParseErrors, PositionalAndNamedTwice) {
  EXPECT_EQ(parseError(layers({"  dense 10 units=10"})),
            R"(m.dsl:3:12: error: duplicate argument 'units'
    dense 10 units=10
             ^)");
}

TEST(ParseErrors, ZeroPaddingValues) {
  EXPECT_EQ(
      parseError(layers({"  zero_padding2d padding=(1, 2, 3)"})),
      R"(m.dsl:3:26: error: padding expects an integer, (h, w) or ((top, bottom), (left, right)), got a tuple of 3 values
    zero_padding2d padding=(1, 2, 3)
                           ^)");
  EXPECT_EQ(
      parseError(layers({"  zero_padding2d ((1, 2), (3, -1))"})),
      R"(m.dsl:3:31: error: padding must be between 0 and 2147483647, got -1
    zero_padding2d ((1, 2), (3, -1))
                                ^)");
  EXPECT_EQ(
      lowerError(layers({"  flatten", "  zero_padding2d"}, "(4, 4, 1)",
                        "  dense units=10 activation=softmax\n")),
      R"(m.dsl:4:3: error: zero_padding2d: expects an image input (h, w, c), got 16; zero_padding2d cannot follow flatten or dense
    zero_padding2d
    ^)");
}

TEST(ParseErrors, MissingComma) {
  EXPECT_EQ(parseError(layers({"  conv2d filters=8 kernel_size=(3 3)"})),
            R"(m.dsl:3:35: error: expected ',' or ')', got '3'
    conv2d filters=8 kernel_size=(3 3)
                                    ^)");
}

TEST(ParseErrors, EmptyTuple) {
  EXPECT_EQ(parseError(layers({"  conv2d filters=8 kernel_size=()"})),
            R"(m.dsl:3:33: error: expected a value, got ')'
    conv2d filters=8 kernel_size=()
                                  ^)");
}

TEST(ParseErrors, UnclosedModel) {
  EXPECT_EQ(
      parseError("model m {\n  input shape=(28, 28, 1)\n  flatten\n\n"),
      R"(m.dsl:3:10: error: expected '}' to close model 'm' (opened on line 1)
    flatten
           ^)");
}

TEST(ParseErrors, StatementInsideModel) {
  EXPECT_EQ(
      parseError("model m {\n  input shape=(28, 28, 1)\n  flatten\ncompile "
                 "optimizer=sgd\n"),
      R"(m.dsl:4:1: error: expected '}' to close model 'm' before 'compile'
  compile optimizer=sgd
  ^)");
}

TEST(ParseErrors, LayerOutsideModel) {
  EXPECT_EQ(parseError(statements({"dense units=3"})),
            R"(m.dsl:6:1: error: layer 'dense' outside of the model block
  dense units=3
  ^)");
}

TEST(ParseErrors, LayerOnTheBraceLine) {
  EXPECT_EQ(
      parseError("model m { input shape=(28, 28, 1)\n}\n"),
      R"(m.dsl:1:11: error: expected end of line after '{' (one layer per line), got 'input'
  model m { input shape=(28, 28, 1)
            ^)");
}

TEST(ParseErrors, MissingModelName) {
  EXPECT_EQ(parseError("model {\n"),
            R"(m.dsl:1:7: error: expected a model name after 'model', got '{'
  model {
        ^)");
}

TEST(ParseErrors, MissingBrace) {
  EXPECT_EQ(
      parseError("model m\n"),
      R"(m.dsl:1:8: error: expected '{' after the model name, got end of line
  model m
         ^)");
}

TEST(ParseErrors, NotAStatement) {
  EXPECT_EQ(
      parseError("= 3\n"),
      R"(m.dsl:1:1: error: expected a statement (model, compile or fit), got '='
  = 3
  ^)");
}

TEST(ParseErrors, TextAfterBrace) {
  EXPECT_EQ(
      parseError(statements({}).replace(kBase.size() - 2, 2, "} dense\n")),
      R"(m.dsl:5:3: error: expected end of line after the model statement, got 'dense'
  } dense
    ^)");
}

TEST(ParseErrors, TooDeep) {
  EXPECT_EQ(parseError(statements(
                {"fit seed=(((((((((((((((((((((((((((((((((((((((("})),
            R"(m.dsl:6:27: error: value nested too deeply
  fit seed=((((((((((((((((((((((((((((((((((((((((
                            ^)");
}

TEST(LowerErrors, KernelDoesNotFit) {
  EXPECT_EQ(
      lowerError(layers({"  conv2d filters=8 kernel_size=3",
                         "  conv2d filters=4 kernel_size=5"},
                        "(5, 5, 1)")),
      R"(m.dsl:4:3: error: conv2d_1: kernel 5x5 does not fit its 3x3x8 input
    conv2d filters=4 kernel_size=5
    ^)");
}

TEST(LowerErrors, KernelDoesNotFitOneAxis) {
  EXPECT_EQ(
      lowerError(
          layers({"  conv2d filters=8 kernel_size=(3, 9)"}, "(28, 8, 1)")),
      R"(m.dsl:3:3: error: conv2d: kernel 3x9 does not fit its 28x8x1 input
    conv2d filters=8 kernel_size=(3, 9)
    ^)");
}

TEST(LowerErrors, PoolDoesNotFit) {
  EXPECT_EQ(
      lowerError(layers({"  max_pooling2d"}, "(1, 1, 3)")),
      R"(m.dsl:3:3: error: max_pooling2d: pool 2x2 does not fit its 1x1x3 input
    max_pooling2d
    ^)");
}

TEST(LowerErrors, AveragePoolDoesNotFit) {
  EXPECT_EQ(
      lowerError(layers({"  conv2d filters=4 kernel_size=3",
                         "  average_pooling2d pool_size=4"},
                        "(5, 5, 1)")),
      R"(m.dsl:4:3: error: average_pooling2d: pool 4x4 does not fit its 3x3x4 input
    average_pooling2d pool_size=4
    ^)");
}

TEST(LowerErrors, DenseOnImage) {
  EXPECT_EQ(
      lowerError(
          layers({"  conv2d filters=32 kernel_size=3", "  max_pooling2d"},
                 "(28, 28, 1)", "  dense units=10 activation=softmax\n")),
      R"(m.dsl:5:3: error: dense: expects a flat input, got 13x13x32; add flatten before it
    dense units=10 activation=softmax
    ^)");
}

TEST(LowerErrors, ConvAfterFlatten) {
  EXPECT_EQ(
      lowerError(layers({"  flatten", "  conv2d filters=8 kernel_size=3"},
                        "(28, 28, 1)",
                        "  dense units=10 activation=softmax\n")),
      R"(m.dsl:4:3: error: conv2d: expects an image input (h, w, c), got 784; conv2d cannot follow flatten or dense
    conv2d filters=8 kernel_size=3
    ^)");
}

TEST(LowerErrors, PoolAfterDense) {
  EXPECT_EQ(
      lowerError(layers({"  flatten", "  dense units=16", "  max_pooling2d"},
                        "(28, 28, 1)",
                        "  dense units=10 activation=softmax\n")),
      R"(m.dsl:5:3: error: max_pooling2d: expects an image input (h, w, c), got 16; max_pooling2d cannot follow flatten or dense
    max_pooling2d
    ^)");
}

TEST(LowerErrors, LastLayerNotSoftmax) {
  EXPECT_EQ(
      lowerError(layers({}, "(28, 28, 1)", "  flatten\n  dense units=10\n")),
      R"(m.dsl:4:3: error: the last layer must have activation=softmax for categorical_crossentropy
    dense units=10
    ^)");
}

TEST(LowerErrors, LastLayerNotSoftmaxSparse) {
  EXPECT_EQ(
      lowerError(layers({}, "(28, 28, 1)",
                        "  flatten\n  dense units=10 activation=relu\n") +
                 "compile loss=sparse_categorical_crossentropy\n"),
      R"(m.dsl:4:3: error: the last layer must have activation=softmax for sparse_categorical_crossentropy
    dense units=10 activation=relu
    ^)");
}

TEST(LowerErrors, LastLayerDropout) {
  EXPECT_EQ(
      lowerError(layers({}, "(28, 28, 1)",
                        "  flatten\n  dense units=10 activation=softmax\n  "
                        "dropout rate=0.5\n")),
      R"(m.dsl:4:29: error: dense: activation=softmax is only supported on the last layer, where the loss uses it
    dense units=10 activation=softmax
                              ^)");
}

TEST(LowerErrors, SoftmaxOnConv) {
  EXPECT_EQ(
      lowerError(layers({"  conv2d filters=8 kernel_size=3 activation=softmax"},
                        "(28, 28, 1)", "")),
      R"(m.dsl:3:45: error: conv2d: activation=softmax needs a flat output, got 26x26x8; use it on the last dense layer
    conv2d filters=8 kernel_size=3 activation=softmax
                                              ^)");
}

TEST(LowerErrors, MnistInputShape) {
  EXPECT_EQ(
      lowerError(layers({}, "(32, 32, 3)") + "fit dataset=mnist\n"),
      R"(m.dsl:2:3: error: input: mnist images are 28x28x1, but the input shape is 32x32x3
    input shape=(32, 32, 3)
    ^)");
}

TEST(LowerErrors, MnistClasses) {
  EXPECT_EQ(
      lowerError(layers({}, "(28, 28, 1)",
                        "  flatten\n  dense units=5 activation=softmax\n") +
                 "fit dataset=mnist\n"),
      R"(m.dsl:4:3: error: dense: mnist has 10 classes, but the last layer has 5 units
    dense units=5 activation=softmax
    ^)");
}

TEST(LowerErrors, InputTooLarge) {
  EXPECT_EQ(
      lowerError(layers({}, "(100000, 100000, 3)")),
      R"(m.dsl:2:3: error: input: a batch of 32 100000x100000x3 images is too large
    input shape=(100000, 100000, 3)
    ^)");
}

TEST(LowerErrors, OutputTooLarge) {
  EXPECT_EQ(
      lowerError(layers({"  conv2d filters=100000000 kernel_size=1"})),
      R"(m.dsl:3:3: error: conv2d: output 28x28x100000000 is too large for batch size 32
    conv2d filters=100000000 kernel_size=1
    ^)");
}

TEST(LowerErrors, TooManyWeights) {
  EXPECT_EQ(
      lowerError(layers({}, "(1, 1, 100000)",
                        "  flatten\n  dense units=100000\n  dense units=10 "
                        "activation=softmax\n")),
      R"(m.dsl:4:3: error: dense: kernel 100000x100000 has too many weights
    dense units=100000
    ^)");
}

} // namespace
} // namespace cnnc::frontend
