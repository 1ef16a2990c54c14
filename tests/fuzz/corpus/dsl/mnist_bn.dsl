# The MNIST CNN with batch normalization, as Keras examples build it: each
# convolution without bias (batch normalization's beta replaces it), then
# batch_normalization, then the activation as its own layer.
model mnist_bn {
  input shape=(28, 28, 1)
  conv2d filters=32 kernel_size=3 use_bias=false
  batch_normalization
  activation activation=relu
  max_pooling2d pool_size=2
  conv2d filters=64 kernel_size=3 use_bias=false
  batch_normalization
  activation activation=relu
  max_pooling2d pool_size=2
  flatten
  dropout rate=0.25
  dense units=128 activation=relu
  dense units=10 activation=softmax
}
compile loss=categorical_crossentropy optimizer=adam(learning_rate=0.001) metrics=[accuracy]
fit dataset=mnist epochs=2 batch_size=32 validation=test
