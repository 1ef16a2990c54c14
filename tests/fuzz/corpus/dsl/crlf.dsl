fit epochs=3
compile optimizer=adam(beta_1=0.5, beta_2=0.99, epsilon=1e-8,)
model crlf {
  input shape=(3, 3, 1)
  conv2d filters=2 kernel_size=3
  flatten
  dense units=2 activation=softmax
}
