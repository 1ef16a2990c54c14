# A small, fast MNIST model for smoke tests: one narrow strided convolution,
# about 3,000 parameters.
model mnist_small {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=3 strides=2 activation=relu   # 13x13x8
  max_pooling2d                                               # 6x6x8
  flatten                                                     # 288
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=1 batch_size=64 validation=test
