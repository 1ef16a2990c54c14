# The compile statement: loss, optimizer and its arguments, metrics.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/unknown-loss.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-LOSS
# UNKNOWN-LOSS:      {{^.*}}/unknown-loss.dsl:6:14: error: unknown loss 'mse'; expected one of categorical_crossentropy, sparse_categorical_crossentropy{{$}}
# UNKNOWN-LOSS-NEXT: {{^}}  compile loss=mse{{$}}
# UNKNOWN-LOSS-NEXT: {{^}}               ^{{$}}

# RUN: not %cnnc %t/misspelled-loss.dsl 2>&1 | %{check} --check-prefix=MISSPELLED-LOSS
# MISSPELLED-LOSS:      {{^.*}}/misspelled-loss.dsl:6:14: error: unknown loss 'categorical_crossentopy'; did you mean 'categorical_crossentropy'?{{$}}
# MISSPELLED-LOSS-NEXT: {{^}}  compile loss=categorical_crossentopy{{$}}
# MISSPELLED-LOSS-NEXT: {{^}}               ^{{$}}

# RUN: not %cnnc %t/unknown-optimizer.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-OPTIMIZER
# UNKNOWN-OPTIMIZER:      {{^.*}}/unknown-optimizer.dsl:6:19: error: unknown optimizer 'adamw'; did you mean 'adam'?{{$}}
# UNKNOWN-OPTIMIZER-NEXT: {{^}}  compile optimizer=adamw{{$}}
# UNKNOWN-OPTIMIZER-NEXT: {{^}}                    ^{{$}}

# RUN: not %cnnc %t/optimizer-string.dsl 2>&1 | %{check} --check-prefix=OPTIMIZER-STRING
# OPTIMIZER-STRING:      {{^.*}}/optimizer-string.dsl:6:19: error: optimizer expects sgd, adam or rmsprop, optionally with arguments as in adam(learning_rate=0.001), got a string{{$}}
# OPTIMIZER-STRING-NEXT: {{^}}  compile optimizer="adam"{{$}}
# OPTIMIZER-STRING-NEXT: {{^}}                    ^{{$}}

# RUN: not %cnnc %t/unknown-optimizer-argument.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-OPTIMIZER-ARGUMENT
# UNKNOWN-OPTIMIZER-ARGUMENT:      {{^.*}}/unknown-optimizer-argument.dsl:6:24: error: unknown argument 'lr' for adam; expected one of learning_rate, beta_1, beta_2, epsilon{{$}}
# UNKNOWN-OPTIMIZER-ARGUMENT-NEXT: {{^}}  compile optimizer=adam(lr=0.01){{$}}
# UNKNOWN-OPTIMIZER-ARGUMENT-NEXT: {{^}}                         ^{{$}}

# RUN: not %cnnc %t/misspelled-optimizer-argument.dsl 2>&1 | %{check} --check-prefix=MISSPELLED-OPTIMIZER-ARGUMENT
# MISSPELLED-OPTIMIZER-ARGUMENT:      {{^.*}}/misspelled-optimizer-argument.dsl:6:27: error: unknown argument 'rh' for rmsprop; did you mean 'rho'?{{$}}
# MISSPELLED-OPTIMIZER-ARGUMENT-NEXT: {{^}}  compile optimizer=rmsprop(rh=0.5){{$}}
# MISSPELLED-OPTIMIZER-ARGUMENT-NEXT: {{^}}                            ^{{$}}

# RUN: not %cnnc %t/positional-optimizer-argument.dsl 2>&1 | %{check} --check-prefix=POSITIONAL-OPTIMIZER-ARGUMENT
# POSITIONAL-OPTIMIZER-ARGUMENT:      {{^.*}}/positional-optimizer-argument.dsl:6:23: error: sgd takes name=value arguments, got 0.1{{$}}
# POSITIONAL-OPTIMIZER-ARGUMENT-NEXT: {{^}}  compile optimizer=sgd(0.1){{$}}
# POSITIONAL-OPTIMIZER-ARGUMENT-NEXT: {{^}}                        ^{{$}}

# RUN: not %cnnc %t/duplicate-optimizer-argument.dsl 2>&1 | %{check} --check-prefix=DUPLICATE-OPTIMIZER-ARGUMENT
# DUPLICATE-OPTIMIZER-ARGUMENT:      {{^.*}}/duplicate-optimizer-argument.dsl:6:38: error: duplicate argument 'epsilon'{{$}}
# DUPLICATE-OPTIMIZER-ARGUMENT-NEXT: {{^}}  compile optimizer=adam(epsilon=1e-8, epsilon=1e-6){{$}}
# DUPLICATE-OPTIMIZER-ARGUMENT-NEXT: {{^}}                                       ^{{$}}

# RUN: not %cnnc %t/zero-learning-rate.dsl 2>&1 | %{check} --check-prefix=ZERO-LEARNING-RATE
# ZERO-LEARNING-RATE:      {{^.*}}/zero-learning-rate.dsl:6:37: error: learning_rate must be positive, got 0{{$}}
# ZERO-LEARNING-RATE-NEXT: {{^}}  compile optimizer=sgd(learning_rate=0){{$}}
# ZERO-LEARNING-RATE-NEXT: {{^}}                                      ^{{$}}

# RUN: not %cnnc %t/momentum-above-one.dsl 2>&1 | %{check} --check-prefix=MOMENTUM-ABOVE-ONE
# MOMENTUM-ABOVE-ONE:      {{^.*}}/momentum-above-one.dsl:6:32: error: momentum must be in [0, 1], got 1.5{{$}}
# MOMENTUM-ABOVE-ONE-NEXT: {{^}}  compile optimizer=sgd(momentum=1.5){{$}}
# MOMENTUM-ABOVE-ONE-NEXT: {{^}}                                 ^{{$}}

# RUN: not %cnnc %t/beta-one.dsl 2>&1 | %{check} --check-prefix=BETA-ONE
# BETA-ONE:      {{^.*}}/beta-one.dsl:6:31: error: beta_1 must be in [0, 1), got 1{{$}}
# BETA-ONE-NEXT: {{^}}  compile optimizer=adam(beta_1=1){{$}}
# BETA-ONE-NEXT: {{^}}                                ^{{$}}

# RUN: not %cnnc %t/unknown-metric.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-METRIC
# UNKNOWN-METRIC:      {{^.*}}/unknown-metric.dsl:6:18: error: unknown metric 'acc'; expected accuracy{{$}}
# UNKNOWN-METRIC-NEXT: {{^}}  compile metrics=[acc]{{$}}
# UNKNOWN-METRIC-NEXT: {{^}}                   ^{{$}}

# RUN: not %cnnc %t/metrics-not-a-list.dsl 2>&1 | %{check} --check-prefix=METRICS-NOT-A-LIST
# METRICS-NOT-A-LIST:      {{^.*}}/metrics-not-a-list.dsl:6:17: error: metrics expects a list such as [accuracy], got the name 'accuracy'{{$}}
# METRICS-NOT-A-LIST-NEXT: {{^}}  compile metrics=accuracy{{$}}
# METRICS-NOT-A-LIST-NEXT: {{^}}                  ^{{$}}

# RUN: not %cnnc %t/duplicate-metric.dsl 2>&1 | %{check} --check-prefix=DUPLICATE-METRIC
# DUPLICATE-METRIC:      {{^.*}}/duplicate-metric.dsl:6:28: error: duplicate metric 'accuracy'{{$}}
# DUPLICATE-METRIC-NEXT: {{^}}  compile metrics=[accuracy, accuracy]{{$}}
# DUPLICATE-METRIC-NEXT: {{^}}                             ^{{$}}

# RUN: not %cnnc %t/compile-positional-argument.dsl 2>&1 | %{check} --check-prefix=COMPILE-POSITIONAL-ARGUMENT
# COMPILE-POSITIONAL-ARGUMENT:      {{^.*}}/compile-positional-argument.dsl:6:9: error: compile takes name=value arguments, got the name 'adam'{{$}}
# COMPILE-POSITIONAL-ARGUMENT-NEXT: {{^}}  compile adam{{$}}
# COMPILE-POSITIONAL-ARGUMENT-NEXT: {{^}}          ^{{$}}

# RUN: not %cnnc %t/unknown-dtype-policy.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-DTYPE-POLICY
# UNKNOWN-DTYPE-POLICY:      {{^.*}}/unknown-dtype-policy.dsl:6:22: error: unknown dtype_policy 'mixed_float16'; did you mean 'mixed_bfloat16'?{{$}}
# UNKNOWN-DTYPE-POLICY-NEXT: {{^}}  compile dtype_policy=mixed_float16{{$}}
# UNKNOWN-DTYPE-POLICY-NEXT: {{^}}                       ^{{$}}

# RUN: not %cnnc %t/dtype-policy-string.dsl 2>&1 | %{check} --check-prefix=DTYPE-POLICY-STRING
# DTYPE-POLICY-STRING:      {{^.*}}/dtype-policy-string.dsl:6:22: error: dtype_policy expects one of float32, mixed_bfloat16, got a string{{$}}
# DTYPE-POLICY-STRING-NEXT: {{^}}  compile dtype_policy="bfloat16"{{$}}
# DTYPE-POLICY-STRING-NEXT: {{^}}                       ^{{$}}

#--- unknown-loss.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile loss=mse
#--- misspelled-loss.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile loss=categorical_crossentopy
#--- unknown-optimizer.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adamw
#--- optimizer-string.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer="adam"
#--- unknown-optimizer-argument.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(lr=0.01)
#--- misspelled-optimizer-argument.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=rmsprop(rh=0.5)
#--- positional-optimizer-argument.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(0.1)
#--- duplicate-optimizer-argument.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(epsilon=1e-8, epsilon=1e-6)
#--- zero-learning-rate.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(learning_rate=0)
#--- momentum-above-one.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(momentum=1.5)
#--- beta-one.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(beta_1=1)
#--- unknown-metric.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile metrics=[acc]
#--- metrics-not-a-list.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile metrics=accuracy
#--- duplicate-metric.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile metrics=[accuracy, accuracy]
#--- compile-positional-argument.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile adam
#--- unknown-dtype-policy.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile dtype_policy=mixed_float16
#--- dtype-policy-string.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile dtype_policy="bfloat16"
