# A DSL model lowered by cnnc, then taken through the passes by cnnc-opt:
# the printed forward graph is cnnc-opt's input, and locations point back
# into this file.
# RUN: %cnnc %s --emit=ir > %t.fwd
# RUN: FileCheck %s --check-prefix=FWD < %t.fwd
# RUN: %cnnc-opt %t.fwd -autodiff='optimizer=sgd momentum=0.5' -dce --verify-each | FileCheck %s --check-prefix=TRAIN
model pipeline {
  input shape=(6, 6, 1)
  conv2d filters=4 kernel_size=3 padding=same activation=tanh
  average_pooling2d pool_size=2
  flatten
  dense units=3 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=sgd metrics=[accuracy]
fit dataset=idx("unused") batch_size=2

# FWD:      graph @pipeline {
# FWD:        %conv2d.conv2d = conv2d(%x, %conv2d.kernel) {padding = [1, 1, 1, 1], strides = [1, 1]} : f32[2,6,6,4] loc("{{.*}}dsl-pipeline.dsl":9:3)
# FWD:        %average_pooling2d = avg_pool2d(%conv2d) {padding = [0, 0, 0, 0], pool_size = [2, 2], strides = [2, 2]} : f32[2,3,3,4] loc("{{.*}}dsl-pipeline.dsl":10:3)
# FWD:        return probs = %dense, logits = %dense.logits

# TRAIN:      graph @pipeline_train {
# TRAIN:        %learning_rate = input {initial = 0.01} : f32[]
# TRAIN:        %conv2d.kernel.velocity = state : f32[3,3,1,4]
# TRAIN:        %conv2d.grad = avg_pool2d_grad(%average_pooling2d.grad) {input_shape = [2, 6, 6, 4], padding = [0, 0, 0, 0], pool_size = [2, 2], strides = [2, 2]} : f32[2,6,6,4] loc("{{.*}}dsl-pipeline.dsl":10:3)
# TRAIN-NEXT:   %conv2d.bias_add.grad = activation_grad(%conv2d, %conv2d.grad) {kind = "tanh"} : f32[2,6,6,4] loc("{{.*}}dsl-pipeline.dsl":9:3)
# TRAIN:        sgd_update(%conv2d.kernel, %conv2d.kernel.grad, %learning_rate, %conv2d.kernel.velocity) {momentum = 0.5, nesterov = 0}
