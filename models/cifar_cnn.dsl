# TensorFlow's "Convolutional Neural Network (CNN)" tutorial model for
# 32x32 colour images (CIFAR-10), trained on a folder of your own photos:
# one subdirectory per class (photos/cat/*.jpg, photos/dog/*.png, ...),
# resized to 32x32 RGB; a fifth of them held out for validation.
model cifar_cnn {
  input shape=(32, 32, 3)
  conv2d 32 (3, 3) activation=relu
  max_pooling2d (2, 2)
  conv2d 64 (3, 3) activation=relu
  max_pooling2d (2, 2)
  conv2d 64 (3, 3) activation=relu
  flatten
  dense 64 activation=relu
  dense 10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=image_folder("photos/", image_size=(32, 32), validation_split=0.2) epochs=10 batch_size=32 seed=1337
