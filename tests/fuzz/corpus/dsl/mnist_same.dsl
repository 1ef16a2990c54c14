# The tutorial's idea with "same" padding, strided convolutions, average
# pooling, tanh, and SGD with momentum.
model mnist_same {
  input shape=(28, 28, 1)
  conv2d filters=16 kernel_size=5 padding=same activation=relu         # 28x28x16
  conv2d filters=32 kernel_size=3 strides=2 padding=same activation=relu name=down
  average_pooling2d pool_size=2 padding=same                            # 7x7x32
  conv2d filters=32 kernel_size=(3, 3) strides=(2, 2) padding=same activation=relu
  dropout rate=0.2                                                      # 4x4x32
  flatten                                                               # 512
  dense units=64 activation=tanh
  dense units=10 activation=softmax
}
compile loss=categorical_crossentropy optimizer=sgd(learning_rate=0.05, momentum=0.9) metrics=[accuracy]
fit dataset=mnist epochs=3 batch_size=64 validation=test shuffle=true seed=7
