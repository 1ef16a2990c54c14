model m {
  input shape=(2, 2, 3)
  flatten
  dense units=1 activation=softmax
}
