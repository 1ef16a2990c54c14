# trainable=false (any layer, Keras's argument): a frozen layer's params
# carry trainable = 0, so autodiff gives them no gradient and no update and
# computes nothing below the lowest trainable layer; a frozen
# batch_normalization runs in inference mode (batch_norm_inference on its
# moving statistics, which no op updates) and passes the gradient on
# through batch_norm_inference_grad. The summary counts frozen weights as
# non-trainable.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/not-a-bool.dsl 2>&1 | %{check} --check-prefix=NOT-A-BOOL
# NOT-A-BOOL:      {{^.*}}/not-a-bool.dsl:3:44: error: trainable expects true or false, got the name 'maybe'{{$}}
# NOT-A-BOOL-NEXT: {{^}}    conv2d filters=4 kernel_size=3 trainable=maybe{{$}}
# NOT-A-BOOL-NEXT: {{^}}                                             ^{{$}}

# RUN: %cnnc %t/frozen.dsl | FileCheck %s --check-prefix=SUMMARY
# conv2d 3*3*1*4 + 4 = 40 and batch_normalization 4 * 4 = 16 are frozen.
# SUMMARY: Total params: 465
# SUMMARY: Trainable params: 409
# SUMMARY: Non-trainable params: 56

# RUN: %cnnc %t/frozen.dsl --emit=ir | FileCheck %s --check-prefix=FORWARD
# FORWARD: %conv2d.kernel = param {fan_in = 9, fan_out = 36, init = "glorot_uniform", trainable = 0} : f32[3,3,1,4]
# FORWARD: %batch_normalization.gamma = param {init = "ones", trainable = 0} : f32[4]
# FORWARD: %conv2d_1.kernel = param {fan_in = 36, fan_out = 36, init = "glorot_uniform"} : f32[3,3,4,4]
# FORWARD: %batch_normalization = batch_norm_inference(%conv2d, %batch_normalization.moving_mean, %batch_normalization.moving_variance, %batch_normalization.gamma, %batch_normalization.beta)
# FORWARD-NOT: moving_average_update

# RUN: %cnnc %t/frozen.dsl --emit=train-ir | FileCheck %s --check-prefix=TRAIN
# TRAIN-NOT: conv2d_backward_data
# TRAIN:     %conv2d_1.kernel.grad = conv2d_backward_filter(%batch_normalization,
# TRAIN-NOT: conv2d_backward
# TRAIN:     adam_update(%conv2d_1.kernel,
# TRAIN-NOT: adam_update(%conv2d.
# TRAIN-NOT: adam_update(%batch_normalization

# RUN: %cnnc %t/frozen-bn-above.dsl --emit=train-ir | FileCheck %s --check-prefix=THROUGH
# THROUGH: %conv2d.grad = batch_norm_inference_grad(%batch_normalization.grad, %batch_normalization.moving_variance, %batch_normalization.gamma)
# THROUGH: adam_update(%conv2d.kernel,
# THROUGH-NOT: adam_update(%batch_normalization

#--- not-a-bool.dsl
model m {
  input shape=(8, 8, 1)
  conv2d filters=4 kernel_size=3 trainable=maybe
  flatten
  dense units=2 activation=softmax
}
#--- frozen.dsl
model m {
  input shape=(12, 12, 1)
  conv2d filters=4 kernel_size=3 trainable=false
  batch_normalization trainable=false
  conv2d filters=4 kernel_size=3
  flatten
  dense units=1 activation=sigmoid trainable=true
  dense units=2 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam
#--- frozen-bn-above.dsl
model m {
  input shape=(8, 8, 1)
  conv2d filters=4 kernel_size=3
  batch_normalization trainable=false
  flatten
  dense units=2 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam
