# A wider MNIST CNN: 5x5 convolutions with padding=same and a 1024-unit
# dense layer, as TensorFlow's "Deep MNIST" tutorial builds it. Its forward
# dense matmul is 64x3136 by 3136x1024; cnnc-bench --suite times it.
model mnist_wide {
  input shape=(28, 28, 1)
  conv2d 32 (5, 5) padding=same activation=relu     # 28x28x32
  max_pooling2d (2, 2)                               # 14x14x32
  conv2d 64 (5, 5) padding=same activation=relu     # 14x14x64
  max_pooling2d (2, 2)                               # 7x7x64
  flatten                                            # 3136
  dense 1024 activation=relu
  dropout 0.4
  dense 10 activation=softmax
}
compile loss=categorical_crossentropy optimizer=adam(learning_rate=0.001) metrics=[accuracy]
fit dataset=mnist epochs=5 batch_size=64 validation=test
