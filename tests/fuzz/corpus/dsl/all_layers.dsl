# Every layer and argument kind, small shapes.
model all_layers {
  input shape=(9, 7, 2)
  conv2d filters=3 kernel_size=(3, 2) strides=(1, 2) padding=same activation=leaky_relu use_bias=false name="c0"
  batch_normalization momentum=0.9 epsilon=1e-5 center=false scale=true
  elu alpha=0.5
  average_pooling2d pool_size=2 strides=1 padding=valid
  leaky_re_lu negative_slope=0.1
  max_pooling2d pool_size=(2, 1) padding=same
  dropout rate=0
  conv2d filters=4 kernel_size=1 activation=tanh
  global_average_pooling2d
  dense units=5 activation=sigmoid name=head
  batch_normalization
  activation activation=elu
  flatten
  dense units=3
  activation activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=rmsprop(learning_rate=0.01, rho=0.8, epsilon=1e-6) metrics=[]
fit dataset=idx("data/tiny-") epochs=2 batch_size=5 validation=none shuffle=false seed=7
