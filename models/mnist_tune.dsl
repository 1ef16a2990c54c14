# Hyper-parameter search over the Keras MNIST tutorial CNN (models/mnist.dsl):
# filters, dense units, dropout rates and the learning rate, by Hyperband as
# Keras Tuner runs it. `cnnc models/mnist_tune.dsl --tune` trains 23 trials
# (75 epochs in all) and writes models/mnist_tune_tune/; run the same command
# again after an interruption to continue. See docs/dsl.md,
# "Hyper-parameter search".
model mnist_cnn {
  input shape=(28, 28, 1)
  conv2d filters=choice(16, 32, 48) kernel_size=(3, 3) activation=relu
  max_pooling2d pool_size=(2, 2)
  dropout rate=uniform(0.1, 0.4)
  conv2d filters=choice(32, 64) kernel_size=3 activation=relu
  max_pooling2d pool_size=2
  dropout rate=uniform(0.1, 0.4)
  flatten
  dense units=choice(64, 128, 256) activation=relu
  dense units=10 activation=softmax
}
compile loss=categorical_crossentropy optimizer=adam(learning_rate=log_uniform(0.0003, 0.003)) metrics=[accuracy]
fit dataset=mnist epochs=9 batch_size=64 validation=test
tune strategy=hyperband objective=val_accuracy max_epochs=9 factor=3 seed=1
