# The tutorial's model with ten times its weights (2.1 M; twice the
# filters and five times the dense units): docs/scaling.md models its step
# time on N processes next to the tutorial's.
model mnist_large {
  input shape=(28, 28, 1)
  conv2d filters=64 kernel_size=(3, 3) activation=relu
  max_pooling2d pool_size=(2, 2)
  dropout rate=0.25
  conv2d filters=128 kernel_size=3 activation=relu
  max_pooling2d pool_size=2
  dropout rate=0.25
  flatten
  dense units=640 activation=relu
  dense units=10 activation=softmax
}
compile loss=categorical_crossentropy optimizer=adam(learning_rate=0.001) metrics=[accuracy]
fit dataset=mnist epochs=10 batch_size=32 validation=test
