# Errors found when the model is lowered: shapes that do not fit, softmax
# placement, the dataset's shape, sizes too large.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/kernel-does-not-fit.dsl 2>&1 | %{check} --check-prefix=KERNEL-DOES-NOT-FIT
# KERNEL-DOES-NOT-FIT:      {{^.*}}/kernel-does-not-fit.dsl:4:3: error: conv2d_1: kernel 5x5 does not fit its 3x3x8 input{{$}}
# KERNEL-DOES-NOT-FIT-NEXT: {{^}}    conv2d filters=4 kernel_size=5{{$}}
# KERNEL-DOES-NOT-FIT-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/kernel-does-not-fit-one-axis.dsl 2>&1 | %{check} --check-prefix=KERNEL-DOES-NOT-FIT-ONE-AXIS
# KERNEL-DOES-NOT-FIT-ONE-AXIS:      {{^.*}}/kernel-does-not-fit-one-axis.dsl:3:3: error: conv2d: kernel 3x9 does not fit its 28x8x1 input{{$}}
# KERNEL-DOES-NOT-FIT-ONE-AXIS-NEXT: {{^}}    conv2d filters=8 kernel_size=(3, 9){{$}}
# KERNEL-DOES-NOT-FIT-ONE-AXIS-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/pool-does-not-fit.dsl 2>&1 | %{check} --check-prefix=POOL-DOES-NOT-FIT
# POOL-DOES-NOT-FIT:      {{^.*}}/pool-does-not-fit.dsl:3:3: error: max_pooling2d: pool 2x2 does not fit its 1x1x3 input{{$}}
# POOL-DOES-NOT-FIT-NEXT: {{^}}    max_pooling2d{{$}}
# POOL-DOES-NOT-FIT-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/average-pool-does-not-fit.dsl 2>&1 | %{check} --check-prefix=AVERAGE-POOL-DOES-NOT-FIT
# AVERAGE-POOL-DOES-NOT-FIT:      {{^.*}}/average-pool-does-not-fit.dsl:4:3: error: average_pooling2d: pool 4x4 does not fit its 3x3x4 input{{$}}
# AVERAGE-POOL-DOES-NOT-FIT-NEXT: {{^}}    average_pooling2d pool_size=4{{$}}
# AVERAGE-POOL-DOES-NOT-FIT-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/dense-on-image.dsl 2>&1 | %{check} --check-prefix=DENSE-ON-IMAGE
# DENSE-ON-IMAGE:      {{^.*}}/dense-on-image.dsl:5:3: error: dense: expects a flat input, got 13x13x32; add flatten before it{{$}}
# DENSE-ON-IMAGE-NEXT: {{^}}    dense units=10 activation=softmax{{$}}
# DENSE-ON-IMAGE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/conv-after-flatten.dsl 2>&1 | %{check} --check-prefix=CONV-AFTER-FLATTEN
# CONV-AFTER-FLATTEN:      {{^.*}}/conv-after-flatten.dsl:4:3: error: conv2d: expects an image input (h, w, c), got 784; conv2d cannot follow flatten or dense{{$}}
# CONV-AFTER-FLATTEN-NEXT: {{^}}    conv2d filters=8 kernel_size=3{{$}}
# CONV-AFTER-FLATTEN-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/pool-after-dense.dsl 2>&1 | %{check} --check-prefix=POOL-AFTER-DENSE
# POOL-AFTER-DENSE:      {{^.*}}/pool-after-dense.dsl:5:3: error: max_pooling2d: expects an image input (h, w, c), got 16; max_pooling2d cannot follow flatten or dense{{$}}
# POOL-AFTER-DENSE-NEXT: {{^}}    max_pooling2d{{$}}
# POOL-AFTER-DENSE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/last-layer-not-softmax.dsl 2>&1 | %{check} --check-prefix=LAST-LAYER-NOT-SOFTMAX
# LAST-LAYER-NOT-SOFTMAX:      {{^.*}}/last-layer-not-softmax.dsl:4:3: error: the last layer must have activation=softmax for categorical_crossentropy{{$}}
# LAST-LAYER-NOT-SOFTMAX-NEXT: {{^}}    dense units=10{{$}}
# LAST-LAYER-NOT-SOFTMAX-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/last-layer-not-softmax-sparse.dsl 2>&1 | %{check} --check-prefix=LAST-LAYER-NOT-SOFTMAX-SPARSE
# LAST-LAYER-NOT-SOFTMAX-SPARSE:      {{^.*}}/last-layer-not-softmax-sparse.dsl:4:3: error: the last layer must have activation=softmax for sparse_categorical_crossentropy{{$}}
# LAST-LAYER-NOT-SOFTMAX-SPARSE-NEXT: {{^}}    dense units=10 activation=relu{{$}}
# LAST-LAYER-NOT-SOFTMAX-SPARSE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/last-layer-dropout.dsl 2>&1 | %{check} --check-prefix=LAST-LAYER-DROPOUT
# LAST-LAYER-DROPOUT:      {{^.*}}/last-layer-dropout.dsl:4:29: error: dense: activation=softmax is only supported on the last layer, where the loss uses it{{$}}
# LAST-LAYER-DROPOUT-NEXT: {{^}}    dense units=10 activation=softmax{{$}}
# LAST-LAYER-DROPOUT-NEXT: {{^}}                              ^{{$}}

# RUN: not %cnnc %t/softmax-on-conv.dsl 2>&1 | %{check} --check-prefix=SOFTMAX-ON-CONV
# SOFTMAX-ON-CONV:      {{^.*}}/softmax-on-conv.dsl:3:45: error: conv2d: activation=softmax needs a flat output, got 26x26x8; use it on the last dense layer{{$}}
# SOFTMAX-ON-CONV-NEXT: {{^}}    conv2d filters=8 kernel_size=3 activation=softmax{{$}}
# SOFTMAX-ON-CONV-NEXT: {{^}}                                              ^{{$}}

# RUN: not %cnnc %t/mnist-input-shape.dsl 2>&1 | %{check} --check-prefix=MNIST-INPUT-SHAPE
# MNIST-INPUT-SHAPE:      {{^.*}}/mnist-input-shape.dsl:2:3: error: input: mnist images are 28x28x1, but the input shape is 32x32x3{{$}}
# MNIST-INPUT-SHAPE-NEXT: {{^}}    input shape=(32, 32, 3){{$}}
# MNIST-INPUT-SHAPE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/mnist-classes.dsl 2>&1 | %{check} --check-prefix=MNIST-CLASSES
# MNIST-CLASSES:      {{^.*}}/mnist-classes.dsl:4:3: error: dense: mnist has 10 classes, but the last layer has 5 units{{$}}
# MNIST-CLASSES-NEXT: {{^}}    dense units=5 activation=softmax{{$}}
# MNIST-CLASSES-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/input-too-large.dsl 2>&1 | %{check} --check-prefix=INPUT-TOO-LARGE
# INPUT-TOO-LARGE:      {{^.*}}/input-too-large.dsl:2:3: error: input: a batch of 32 100000x100000x3 images is too large{{$}}
# INPUT-TOO-LARGE-NEXT: {{^}}    input shape=(100000, 100000, 3){{$}}
# INPUT-TOO-LARGE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/output-too-large.dsl 2>&1 | %{check} --check-prefix=OUTPUT-TOO-LARGE
# OUTPUT-TOO-LARGE:      {{^.*}}/output-too-large.dsl:3:3: error: conv2d: output 28x28x100000000 is too large for batch size 32{{$}}
# OUTPUT-TOO-LARGE-NEXT: {{^}}    conv2d filters=100000000 kernel_size=1{{$}}
# OUTPUT-TOO-LARGE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/too-many-weights.dsl 2>&1 | %{check} --check-prefix=TOO-MANY-WEIGHTS
# TOO-MANY-WEIGHTS:      {{^.*}}/too-many-weights.dsl:4:3: error: dense: kernel 100000x100000 has too many weights{{$}}
# TOO-MANY-WEIGHTS-NEXT: {{^}}    dense units=100000{{$}}
# TOO-MANY-WEIGHTS-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/zero-padding-after-flatten.dsl 2>&1 | %{check} --check-prefix=ZERO-PADDING-AFTER-FLATTEN
# ZERO-PADDING-AFTER-FLATTEN:      {{^.*}}/zero-padding-after-flatten.dsl:4:3: error: zero_padding2d: expects an image input (h, w, c), got 16; zero_padding2d cannot follow flatten or dense{{$}}
# ZERO-PADDING-AFTER-FLATTEN-NEXT: {{^}}    zero_padding2d{{$}}
# ZERO-PADDING-AFTER-FLATTEN-NEXT: {{^}}    ^{{$}}

#--- kernel-does-not-fit.dsl
model m {
  input shape=(5, 5, 1)
  conv2d filters=8 kernel_size=3
  conv2d filters=4 kernel_size=5
  flatten
  dense units=10 activation=softmax
}
#--- kernel-does-not-fit-one-axis.dsl
model m {
  input shape=(28, 8, 1)
  conv2d filters=8 kernel_size=(3, 9)
  flatten
  dense units=10 activation=softmax
}
#--- pool-does-not-fit.dsl
model m {
  input shape=(1, 1, 3)
  max_pooling2d
  flatten
  dense units=10 activation=softmax
}
#--- average-pool-does-not-fit.dsl
model m {
  input shape=(5, 5, 1)
  conv2d filters=4 kernel_size=3
  average_pooling2d pool_size=4
  flatten
  dense units=10 activation=softmax
}
#--- dense-on-image.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=32 kernel_size=3
  max_pooling2d
  dense units=10 activation=softmax
}
#--- conv-after-flatten.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  conv2d filters=8 kernel_size=3
  dense units=10 activation=softmax
}
#--- pool-after-dense.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=16
  max_pooling2d
  dense units=10 activation=softmax
}
#--- last-layer-not-softmax.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10
}
#--- last-layer-not-softmax-sparse.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=relu
}
compile loss=sparse_categorical_crossentropy
#--- last-layer-dropout.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
  dropout rate=0.5
}
#--- softmax-on-conv.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=3 activation=softmax
}
#--- mnist-input-shape.dsl
model m {
  input shape=(32, 32, 3)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist
#--- mnist-classes.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=5 activation=softmax
}
fit dataset=mnist
#--- input-too-large.dsl
model m {
  input shape=(100000, 100000, 3)
  flatten
  dense units=10 activation=softmax
}
#--- output-too-large.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=100000000 kernel_size=1
  flatten
  dense units=10 activation=softmax
}
#--- too-many-weights.dsl
model m {
  input shape=(1, 1, 100000)
  flatten
  dense units=100000
  dense units=10 activation=softmax
}
#--- zero-padding-after-flatten.dsl
model m {
  input shape=(4, 4, 1)
  flatten
  zero_padding2d
  dense units=10 activation=softmax
}
