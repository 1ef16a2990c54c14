# Layer arguments: unknown, missing, duplicate, positional, of the wrong type
# or out of range.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/unknown-argument.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-ARGUMENT
# UNKNOWN-ARGUMENT:      {{^.*}}/unknown-argument.dsl:3:10: error: unknown argument 'filter' for conv2d; did you mean 'filters'?{{$}}
# UNKNOWN-ARGUMENT-NEXT: {{^}}    conv2d filter=32 kernel_size=3{{$}}
# UNKNOWN-ARGUMENT-NEXT: {{^}}           ^{{$}}

# RUN: not %cnnc %t/unknown-argument-nothing-close.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-ARGUMENT-NOTHING-CLOSE
# UNKNOWN-ARGUMENT-NOTHING-CLOSE:      {{^.*}}/unknown-argument-nothing-close.dsl:3:18: error: unknown argument 'bias' for dense; expected one of units, activation, use_bias, name, trainable{{$}}
# UNKNOWN-ARGUMENT-NOTHING-CLOSE-NEXT: {{^}}    dense units=10 bias=true{{$}}
# UNKNOWN-ARGUMENT-NOTHING-CLOSE-NEXT: {{^}}                   ^{{$}}

# RUN: not %cnnc %t/unknown-activation.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-ACTIVATION
# UNKNOWN-ACTIVATION:      {{^.*}}/unknown-activation.dsl:3:29: error: unknown activation 'relux'; did you mean 'relu'?{{$}}
# UNKNOWN-ACTIVATION-NEXT: {{^}}    dense units=10 activation=relux{{$}}
# UNKNOWN-ACTIVATION-NEXT: {{^}}                              ^{{$}}

# RUN: not %cnnc %t/unknown-padding.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-PADDING
# UNKNOWN-PADDING:      {{^.*}}/unknown-padding.dsl:3:42: error: unknown padding 'full'; expected one of valid, same{{$}}
# UNKNOWN-PADDING-NEXT: {{^}}    conv2d filters=8 kernel_size=3 padding=full{{$}}
# UNKNOWN-PADDING-NEXT: {{^}}                                           ^{{$}}

# RUN: not %cnnc %t/kernel-size-string.dsl 2>&1 | %{check} --check-prefix=KERNEL-SIZE-STRING
# KERNEL-SIZE-STRING:      {{^.*}}/kernel-size-string.dsl:3:33: error: kernel_size expects an integer or (h, w), got a string{{$}}
# KERNEL-SIZE-STRING-NEXT: {{^}}    conv2d filters=32 kernel_size="3"{{$}}
# KERNEL-SIZE-STRING-NEXT: {{^}}                                  ^{{$}}

# RUN: not %cnnc %t/kernel-size-triple.dsl 2>&1 | %{check} --check-prefix=KERNEL-SIZE-TRIPLE
# KERNEL-SIZE-TRIPLE:      {{^.*}}/kernel-size-triple.dsl:3:32: error: kernel_size expects an integer or (h, w), got a tuple of 3 values{{$}}
# KERNEL-SIZE-TRIPLE-NEXT: {{^}}    conv2d filters=8 kernel_size=(3, 3, 3){{$}}
# KERNEL-SIZE-TRIPLE-NEXT: {{^}}                                 ^{{$}}

# RUN: not %cnnc %t/filters-float.dsl 2>&1 | %{check} --check-prefix=FILTERS-FLOAT
# FILTERS-FLOAT:      {{^.*}}/filters-float.dsl:3:18: error: filters expects an integer, got 3.5{{$}}
# FILTERS-FLOAT-NEXT: {{^}}    conv2d filters=3.5 kernel_size=3{{$}}
# FILTERS-FLOAT-NEXT: {{^}}                   ^{{$}}

# RUN: not %cnnc %t/rate-name.dsl 2>&1 | %{check} --check-prefix=RATE-NAME
# RATE-NAME:      {{^.*}}/rate-name.dsl:3:16: error: rate expects a number, got the name 'high'{{$}}
# RATE-NAME-NEXT: {{^}}    dropout rate=high{{$}}
# RATE-NAME-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/use-bias-capitalized.dsl 2>&1 | %{check} --check-prefix=USE-BIAS-CAPITALIZED
# USE-BIAS-CAPITALIZED:      {{^.*}}/use-bias-capitalized.dsl:3:26: error: use_bias expects true or false, got the name 'True'; did you mean 'true'?{{$}}
# USE-BIAS-CAPITALIZED-NEXT: {{^}}    dense units=4 use_bias=True{{$}}
# USE-BIAS-CAPITALIZED-NEXT: {{^}}                           ^{{$}}

# RUN: not %cnnc %t/use-bias-integer.dsl 2>&1 | %{check} --check-prefix=USE-BIAS-INTEGER
# USE-BIAS-INTEGER:      {{^.*}}/use-bias-integer.dsl:3:26: error: use_bias expects true or false, got 1{{$}}
# USE-BIAS-INTEGER-NEXT: {{^}}    dense units=4 use_bias=1{{$}}
# USE-BIAS-INTEGER-NEXT: {{^}}                           ^{{$}}

# RUN: not %cnnc %t/activation-integer.dsl 2>&1 | %{check} --check-prefix=ACTIVATION-INTEGER
# ACTIVATION-INTEGER:      {{^.*}}/activation-integer.dsl:3:28: error: activation expects one of linear, relu, sigmoid, tanh, leaky_relu, elu, gelu, swish, softplus, silu, softmax, got 3{{$}}
# ACTIVATION-INTEGER-NEXT: {{^}}    dense units=4 activation=3{{$}}
# ACTIVATION-INTEGER-NEXT: {{^}}                             ^{{$}}

# RUN: not %cnnc %t/shape-pair.dsl 2>&1 | %{check} --check-prefix=SHAPE-PAIR
# SHAPE-PAIR:      {{^.*}}/shape-pair.dsl:2:15: error: shape expects (h, w, c), got a tuple of 2 values{{$}}
# SHAPE-PAIR-NEXT: {{^}}    input shape=(28, 28){{$}}
# SHAPE-PAIR-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/shape-string.dsl 2>&1 | %{check} --check-prefix=SHAPE-STRING
# SHAPE-STRING:      {{^.*}}/shape-string.dsl:2:20: error: shape expects integers, got a string{{$}}
# SHAPE-STRING-NEXT: {{^}}    input shape=(28, "28", 1){{$}}
# SHAPE-STRING-NEXT: {{^}}                     ^{{$}}

# RUN: not %cnnc %t/filters-zero.dsl 2>&1 | %{check} --check-prefix=FILTERS-ZERO
# FILTERS-ZERO:      {{^.*}}/filters-zero.dsl:3:18: error: filters must be at least 1, got 0{{$}}
# FILTERS-ZERO-NEXT: {{^}}    conv2d filters=0 kernel_size=3{{$}}
# FILTERS-ZERO-NEXT: {{^}}                   ^{{$}}

# RUN: not %cnnc %t/units-too-large.dsl 2>&1 | %{check} --check-prefix=UNITS-TOO-LARGE
# UNITS-TOO-LARGE:      {{^.*}}/units-too-large.dsl:3:15: error: units must be at most 2147483647, got 3000000000{{$}}
# UNITS-TOO-LARGE-NEXT: {{^}}    dense units=3000000000{{$}}
# UNITS-TOO-LARGE-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/kernel-size-zero.dsl 2>&1 | %{check} --check-prefix=KERNEL-SIZE-ZERO
# KERNEL-SIZE-ZERO:      {{^.*}}/kernel-size-zero.dsl:3:36: error: kernel_size must be between 1 and 2147483647, got 0{{$}}
# KERNEL-SIZE-ZERO-NEXT: {{^}}    conv2d filters=8 kernel_size=(3, 0){{$}}
# KERNEL-SIZE-ZERO-NEXT: {{^}}                                     ^{{$}}

# RUN: not %cnnc %t/negative-strides.dsl 2>&1 | %{check} --check-prefix=NEGATIVE-STRIDES
# NEGATIVE-STRIDES:      {{^.*}}/negative-strides.dsl:3:25: error: strides must be between 1 and 2147483647, got -1{{$}}
# NEGATIVE-STRIDES-NEXT: {{^}}    max_pooling2d strides=-1{{$}}
# NEGATIVE-STRIDES-NEXT: {{^}}                          ^{{$}}

# RUN: not %cnnc %t/rate-one.dsl 2>&1 | %{check} --check-prefix=RATE-ONE
# RATE-ONE:      {{^.*}}/rate-one.dsl:3:16: error: rate must be in [0, 1), got 1.5{{$}}
# RATE-ONE-NEXT: {{^}}    dropout rate=1.5{{$}}
# RATE-ONE-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/negative-shape.dsl 2>&1 | %{check} --check-prefix=NEGATIVE-SHAPE
# NEGATIVE-SHAPE:      {{^.*}}/negative-shape.dsl:2:20: error: shape must be between 1 and 2147483647, got -28{{$}}
# NEGATIVE-SHAPE-NEXT: {{^}}    input shape=(28, -28, 1){{$}}
# NEGATIVE-SHAPE-NEXT: {{^}}                     ^{{$}}

# RUN: not %cnnc %t/missing-filters.dsl 2>&1 | %{check} --check-prefix=MISSING-FILTERS
# MISSING-FILTERS:      {{^.*}}/missing-filters.dsl:3:3: error: missing required argument 'filters' for conv2d{{$}}
# MISSING-FILTERS-NEXT: {{^}}    conv2d kernel_size=3{{$}}
# MISSING-FILTERS-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/missing-kernel-size.dsl 2>&1 | %{check} --check-prefix=MISSING-KERNEL-SIZE
# MISSING-KERNEL-SIZE:      {{^.*}}/missing-kernel-size.dsl:3:3: error: missing required argument 'kernel_size' for conv2d{{$}}
# MISSING-KERNEL-SIZE-NEXT: {{^}}    conv2d filters=3{{$}}
# MISSING-KERNEL-SIZE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/missing-units.dsl 2>&1 | %{check} --check-prefix=MISSING-UNITS
# MISSING-UNITS:      {{^.*}}/missing-units.dsl:3:3: error: missing required argument 'units' for dense{{$}}
# MISSING-UNITS-NEXT: {{^}}    dense activation=relu{{$}}
# MISSING-UNITS-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/missing-rate.dsl 2>&1 | %{check} --check-prefix=MISSING-RATE
# MISSING-RATE:      {{^.*}}/missing-rate.dsl:3:3: error: missing required argument 'rate' for dropout{{$}}
# MISSING-RATE-NEXT: {{^}}    dropout{{$}}
# MISSING-RATE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/missing-shape.dsl 2>&1 | %{check} --check-prefix=MISSING-SHAPE
# MISSING-SHAPE:      {{^.*}}/missing-shape.dsl:2:3: error: missing required argument 'shape' for input{{$}}
# MISSING-SHAPE-NEXT: {{^}}    input{{$}}
# MISSING-SHAPE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/duplicate-argument.dsl 2>&1 | %{check} --check-prefix=DUPLICATE-ARGUMENT
# DUPLICATE-ARGUMENT:      {{^.*}}/duplicate-argument.dsl:3:21: error: duplicate argument 'filters'{{$}}
# DUPLICATE-ARGUMENT-NEXT: {{^}}    conv2d filters=32 filters=64 kernel_size=3{{$}}
# DUPLICATE-ARGUMENT-NEXT: {{^}}                      ^{{$}}

# A bare value is positional: conv2d 32 reads as Conv2D(32), which still
# needs its kernel_size.
# RUN: not %cnnc %t/bare-value.dsl 2>&1 | %{check} --check-prefix=BARE-VALUE
# BARE-VALUE:      {{^.*}}/bare-value.dsl:3:3: error: missing required argument 'kernel_size' for conv2d{{$}}
# BARE-VALUE-NEXT: {{^}}    conv2d 32{{$}}
# BARE-VALUE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/positional-after-named.dsl 2>&1 | %{check} --check-prefix=POSITIONAL-AFTER-NAMED
# POSITIONAL-AFTER-NAMED:      {{^.*}}/positional-after-named.dsl:3:21: error: positional argument '(' follows a named argument; positional arguments come first{{$}}
# POSITIONAL-AFTER-NAMED-NEXT: {{^}}    conv2d filters=32 (3, 3){{$}}
# POSITIONAL-AFTER-NAMED-NEXT: {{^}}                      ^{{$}}

# RUN: not %cnnc %t/too-many-positional-dense.dsl 2>&1 | %{check} --check-prefix=TOO-MANY-POSITIONAL-DENSE
# TOO-MANY-POSITIONAL-DENSE:      {{^.*}}/too-many-positional-dense.dsl:3:22: error: dense takes at most 3 positional arguments (units, activation, use_bias), got 4{{$}}
# TOO-MANY-POSITIONAL-DENSE-NEXT: {{^}}    dense 10 relu true 3{{$}}
# TOO-MANY-POSITIONAL-DENSE-NEXT: {{^}}                       ^{{$}}

# RUN: not %cnnc %t/too-many-positional-dropout.dsl 2>&1 | %{check} --check-prefix=TOO-MANY-POSITIONAL-DROPOUT
# TOO-MANY-POSITIONAL-DROPOUT:      {{^.*}}/too-many-positional-dropout.dsl:3:15: error: dropout takes at most 1 positional argument (rate), got 2{{$}}
# TOO-MANY-POSITIONAL-DROPOUT-NEXT: {{^}}    dropout 0.5 0.1{{$}}
# TOO-MANY-POSITIONAL-DROPOUT-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/no-positional-arguments.dsl 2>&1 | %{check} --check-prefix=NO-POSITIONAL-ARGUMENTS
# NO-POSITIONAL-ARGUMENTS:      {{^.*}}/no-positional-arguments.dsl:3:23: error: batch_normalization takes no positional arguments, got 0.9; use name=value{{$}}
# NO-POSITIONAL-ARGUMENTS-NEXT: {{^}}    batch_normalization 0.9{{$}}
# NO-POSITIONAL-ARGUMENTS-NEXT: {{^}}                        ^{{$}}

# A positional argument that a named one repeats.
# RUN: not %cnnc %t/positional-and-named-twice.dsl 2>&1 | %{check} --check-prefix=POSITIONAL-AND-NAMED-TWICE
# POSITIONAL-AND-NAMED-TWICE:      {{^.*}}/positional-and-named-twice.dsl:3:12: error: duplicate argument 'units'{{$}}
# POSITIONAL-AND-NAMED-TWICE-NEXT: {{^}}    dense 10 units=10{{$}}
# POSITIONAL-AND-NAMED-TWICE-NEXT: {{^}}             ^{{$}}

# RUN: not %cnnc %t/zero-padding-triple.dsl 2>&1 | %{check} --check-prefix=ZERO-PADDING-TRIPLE
# ZERO-PADDING-TRIPLE:      {{^.*}}/zero-padding-triple.dsl:3:26: error: padding expects an integer, (h, w) or ((top, bottom), (left, right)), got a tuple of 3 values{{$}}
# ZERO-PADDING-TRIPLE-NEXT: {{^}}    zero_padding2d padding=(1, 2, 3){{$}}
# ZERO-PADDING-TRIPLE-NEXT: {{^}}                           ^{{$}}

# RUN: not %cnnc %t/zero-padding-negative.dsl 2>&1 | %{check} --check-prefix=ZERO-PADDING-NEGATIVE
# ZERO-PADDING-NEGATIVE:      {{^.*}}/zero-padding-negative.dsl:3:31: error: padding must be between 0 and 2147483647, got -1{{$}}
# ZERO-PADDING-NEGATIVE-NEXT: {{^}}    zero_padding2d ((1, 2), (3, -1)){{$}}
# ZERO-PADDING-NEGATIVE-NEXT: {{^}}                                ^{{$}}

#--- unknown-argument.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filter=32 kernel_size=3
  flatten
  dense units=10 activation=softmax
}
#--- unknown-argument-nothing-close.dsl
model m {
  input shape=(28, 28, 1)
  dense units=10 bias=true
  flatten
  dense units=10 activation=softmax
}
#--- unknown-activation.dsl
model m {
  input shape=(28, 28, 1)
  dense units=10 activation=relux
  flatten
  dense units=10 activation=softmax
}
#--- unknown-padding.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=3 padding=full
  flatten
  dense units=10 activation=softmax
}
#--- kernel-size-string.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=32 kernel_size="3"
  flatten
  dense units=10 activation=softmax
}
#--- kernel-size-triple.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=(3, 3, 3)
  flatten
  dense units=10 activation=softmax
}
#--- filters-float.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=3.5 kernel_size=3
  flatten
  dense units=10 activation=softmax
}
#--- rate-name.dsl
model m {
  input shape=(28, 28, 1)
  dropout rate=high
  flatten
  dense units=10 activation=softmax
}
#--- use-bias-capitalized.dsl
model m {
  input shape=(28, 28, 1)
  dense units=4 use_bias=True
  flatten
  dense units=10 activation=softmax
}
#--- use-bias-integer.dsl
model m {
  input shape=(28, 28, 1)
  dense units=4 use_bias=1
  flatten
  dense units=10 activation=softmax
}
#--- activation-integer.dsl
model m {
  input shape=(28, 28, 1)
  dense units=4 activation=3
  flatten
  dense units=10 activation=softmax
}
#--- shape-pair.dsl
model m {
  input shape=(28, 28)
  flatten
  dense units=10 activation=softmax
}
#--- shape-string.dsl
model m {
  input shape=(28, "28", 1)
  flatten
  dense units=10 activation=softmax
}
#--- filters-zero.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=0 kernel_size=3
  flatten
  dense units=10 activation=softmax
}
#--- units-too-large.dsl
model m {
  input shape=(28, 28, 1)
  dense units=3000000000
  flatten
  dense units=10 activation=softmax
}
#--- kernel-size-zero.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=(3, 0)
  flatten
  dense units=10 activation=softmax
}
#--- negative-strides.dsl
model m {
  input shape=(28, 28, 1)
  max_pooling2d strides=-1
  flatten
  dense units=10 activation=softmax
}
#--- rate-one.dsl
model m {
  input shape=(28, 28, 1)
  dropout rate=1.5
  flatten
  dense units=10 activation=softmax
}
#--- negative-shape.dsl
model m {
  input shape=(28, -28, 1)
  flatten
  dense units=10 activation=softmax
}
#--- missing-filters.dsl
model m {
  input shape=(28, 28, 1)
  conv2d kernel_size=3
  flatten
  dense units=10 activation=softmax
}
#--- missing-kernel-size.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=3
  flatten
  dense units=10 activation=softmax
}
#--- missing-units.dsl
model m {
  input shape=(28, 28, 1)
  dense activation=relu
  flatten
  dense units=10 activation=softmax
}
#--- missing-rate.dsl
model m {
  input shape=(28, 28, 1)
  dropout
  flatten
  dense units=10 activation=softmax
}
#--- missing-shape.dsl
model m {
  input
  flatten
}
#--- duplicate-argument.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=32 filters=64 kernel_size=3
  flatten
  dense units=10 activation=softmax
}
#--- bare-value.dsl
model m {
  input shape=(28, 28, 1)
  conv2d 32
  flatten
  dense units=10 activation=softmax
}
#--- positional-after-named.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=32 (3, 3)
  flatten
  dense units=10 activation=softmax
}
#--- too-many-positional-dense.dsl
model m {
  input shape=(28, 28, 1)
  dense 10 relu true 3
  flatten
  dense units=10 activation=softmax
}
#--- too-many-positional-dropout.dsl
model m {
  input shape=(28, 28, 1)
  dropout 0.5 0.1
  flatten
  dense units=10 activation=softmax
}
#--- no-positional-arguments.dsl
model m {
  input shape=(28, 28, 1)
  batch_normalization 0.9
  flatten
  dense units=10 activation=softmax
}
#--- positional-and-named-twice.dsl
model m {
  input shape=(28, 28, 1)
  dense 10 units=10
  flatten
  dense units=10 activation=softmax
}
#--- zero-padding-triple.dsl
model m {
  input shape=(28, 28, 1)
  zero_padding2d padding=(1, 2, 3)
  flatten
  dense units=10 activation=softmax
}
#--- zero-padding-negative.dsl
model m {
  input shape=(28, 28, 1)
  zero_padding2d ((1, 2), (3, -1))
  flatten
  dense units=10 activation=softmax
}
