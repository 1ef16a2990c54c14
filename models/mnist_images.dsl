# The Keras MNIST tutorial CNN trained from image files instead of IDX:
# MNIST written as PNG folders by scripts/write-image-folders.sh
# (data/images/mnist-png/{train,test}/<digit>/<index>.png); paths are
# relative to the working directory, as in Keras: run from the repository.
model mnist_images {
  input shape=(28, 28, 1)
  conv2d 32 (3, 3) activation=relu
  max_pooling2d (2, 2)
  dropout 0.25
  conv2d 64 3 activation=relu
  max_pooling2d 2
  dropout 0.25
  flatten
  dense 128 activation=relu
  dense 10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam(learning_rate=0.001) metrics=[accuracy]
fit dataset=image_folder("data/images/mnist-png/train", image_size=(28, 28), color_mode=grayscale) validation=image_folder("data/images/mnist-png/test") epochs=10 batch_size=32
