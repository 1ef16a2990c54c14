# A VGG-style network for 32x32 colour images (CIFAR-10's shape): three
# blocks of two 3x3 convolutions with batch normalization, each block
# ending in a 2x2 max pool; 32, 64 and 128 filters; global average pooling
# and a 10-way dense layer. Point the fit at a folder of your own images
# (one subfolder per class); cnnc-bench --suite times it on random pixels
# of this shape.
model cifar_vgg {
  input shape=(32, 32, 3)
  conv2d 32 (3, 3) padding=same use_bias=false
  batch_normalization
  activation relu
  conv2d 32 (3, 3) padding=same use_bias=false
  batch_normalization
  activation relu
  max_pooling2d (2, 2)                               # 16x16x32
  conv2d 64 (3, 3) padding=same use_bias=false
  batch_normalization
  activation relu
  conv2d 64 (3, 3) padding=same use_bias=false
  batch_normalization
  activation relu
  max_pooling2d (2, 2)                               # 8x8x64
  conv2d 128 (3, 3) padding=same use_bias=false
  batch_normalization
  activation relu
  conv2d 128 (3, 3) padding=same use_bias=false
  batch_normalization
  activation relu
  max_pooling2d (2, 2)                               # 4x4x128
  global_average_pooling2d
  dense 10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=image_folder("cifar/", image_size=(32, 32), validation_split=0.1) epochs=30 batch_size=64 seed=1
