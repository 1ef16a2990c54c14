# Issue 8's reproducer: conv2dVjp kept a reference into the graph's value
# vector across an append that grew it (heap-use-after-free; the Release
# build crashed with exit 139). Values now live in stable storage.
# RUN: %cnnc %s --emit=train-ir | FileCheck %s
# RUN: %cnnc %s --emit=ir > %t.fwd
# RUN: %cnnc-opt %t.fwd -autodiff -dce -fusion -memory-plan --verify-each | FileCheck %s --check-prefix=OPT
model m {
  input shape=(28, 28, 1)
  conv2d filters=2 kernel_size=3 padding=same
  conv2d filters=2 kernel_size=3 padding=same
  conv2d filters=2 kernel_size=3 padding=same
  flatten
  dense units=10 activation=softmax
}
# CHECK: graph @m_train {
# CHECK: %conv2d_2.kernel.grad = conv2d_backward_filter
# CHECK: %conv2d.kernel.grad = conv2d_backward_filter
# CHECK: adam_update(%conv2d.kernel, %conv2d.kernel.grad
# OPT: graph @m
# OPT: conv2d_backward_data
