# Keras's mnist_transfer_cnn, step 2: the feature layers (both conv2d)
# frozen with the weights learned on digits 0-4, the dense layers
# fine-tuned on digits 5-9 (classes=[5, 6, 7, 8, 9], renumbered 0-4). After
#   cnnc models/transfer/digits_0_4.dsl --train
# run, from the repository's top directory,
#   cnnc models/transfer/digits_5_9.dsl --train
# It loads every weight by name from step 1 (the layers are named alike);
# nothing is computed below the first dense layer in the backward pass. Ten
# epochs with a decaying rate (Keras's example runs five of Adadelta).
model mnist_transfer {
  input shape=(28, 28, 1)
  conv2d filters=32 kernel_size=3 activation=relu trainable=false
  conv2d filters=32 kernel_size=3 activation=relu trainable=false
  max_pooling2d pool_size=2
  dropout rate=0.25
  flatten
  dense units=128 activation=relu
  dropout rate=0.5
  dense units=5 activation=softmax
}
compile loss=categorical_crossentropy optimizer=adam(learning_rate=cosine_decay(0.001, 2300)) metrics=[accuracy]
fit dataset=mnist classes=[5, 6, 7, 8, 9] epochs=10 batch_size=128 initial_weights="models/transfer/digits_0_4.safetensors"
