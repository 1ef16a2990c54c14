# The Keras MNIST tutorial CNN
model mnist_cnn {
  input shape=(28, 28, 1)
  conv2d filters=32 kernel_size=(3, 3) activation=relu
  max_pooling2d pool_size=(2, 2)
  dropout rate=0.25
  conv2d filters=64 kernel_size=3 activation=relu
  max_pooling2d pool_size=2
  dropout rate=0.25
  flatten
  dense units=128 activation=relu
  dense units=10 activation=softmax
}
compile loss=categorical_crossentropy optimizer=adam(learning_rate=0.001) metrics=[accuracy] dtype_policy=mixed_bfloat16
fit dataset=mnist epochs=10 batch_size=32 validation=test
