# Keras's mnist_transfer_cnn, step 1: the CNN trained on digits 0-4 only
# (classes=[0, 1, 2, 3, 4]; five output units). Run from the repository's
# top directory:
#   cnnc models/transfer/digits_0_4.dsl --train
# which saves models/transfer/digits_0_4.safetensors, the weights step 2
# (digits_5_9.dsl) starts from. Keras trains with Adadelta; cnnc has Adam.
model mnist_transfer {
  input shape=(28, 28, 1)
  conv2d filters=32 kernel_size=3 activation=relu
  conv2d filters=32 kernel_size=3 activation=relu
  max_pooling2d pool_size=2
  dropout rate=0.25
  flatten
  dense units=128 activation=relu
  dropout rate=0.5
  dense units=5 activation=softmax
}
compile loss=categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist classes=[0, 1, 2, 3, 4] epochs=5 batch_size=128
