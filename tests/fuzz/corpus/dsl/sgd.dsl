model m {
  input shape=(4, 4, 1)
  flatten
  dropout rate=0.5
  dense units=2 activation=softmax
}
compile optimizer=sgd(learning_rate=0.1, momentum=0.9, nesterov=true)
fit batch_size=1
