# Hyper-parameter search spaces and the tune statement (cnnc --tune):
# malformed spaces and tune arguments, and a combination of values that the
# frontend rejects, before any training.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/int-range-reversed.dsl --tune 2>&1 | %{check} --check-prefix=INT-RANGE-REVERSED
# INT-RANGE-REVERSED:      {{^.*}}/int-range-reversed.dsl:3:29: error: int_range needs lo <= hi, got 64 and 16{{$}}
# INT-RANGE-REVERSED-NEXT: {{^}}    dense units=int_range(64, 16) activation=relu{{$}}
# INT-RANGE-REVERSED-NEXT: {{^}}                              ^{{$}}

# RUN: not %cnnc %t/int-range-float.dsl --tune 2>&1 | %{check} --check-prefix=INT-RANGE-FLOAT
# INT-RANGE-FLOAT:      {{^.*}}/int-range-float.dsl:3:28: error: int_range expects integers, got 64.5{{$}}
# INT-RANGE-FLOAT-NEXT: {{^}}    dense units=int_range(8, 64.5) activation=relu{{$}}
# INT-RANGE-FLOAT-NEXT: {{^}}                             ^{{$}}

# RUN: not %cnnc %t/log-uniform-zero.dsl --tune 2>&1 | %{check} --check-prefix=LOG-UNIFORM-ZERO
# LOG-UNIFORM-ZERO:      {{^.*}}/log-uniform-zero.dsl:3:23: error: log_uniform needs lo > 0, got 0{{$}}
# LOG-UNIFORM-ZERO-NEXT: {{^}}    dropout log_uniform(0, 0.5){{$}}
# LOG-UNIFORM-ZERO-NEXT: {{^}}                        ^{{$}}

# RUN: not %cnnc %t/choice-empty.dsl --tune 2>&1 | %{check} --check-prefix=CHOICE-EMPTY
# CHOICE-EMPTY:      {{^.*}}/choice-empty.dsl:3:15: error: choice needs at least one value{{$}}
# CHOICE-EMPTY-NEXT: {{^}}    dense units=choice() activation=relu{{$}}
# CHOICE-EMPTY-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/nested.dsl --tune 2>&1 | %{check} --check-prefix=NESTED
# NESTED:      {{^.*}}/nested.dsl:3:25: error: int_range inside choice: a search space cannot contain another{{$}}
# NESTED-NEXT: {{^}}    dense units=choice(8, int_range(1, 4)) activation=relu{{$}}
# NESTED-NEXT: {{^}}                          ^{{$}}

# RUN: not %cnnc %t/unclosed.dsl --tune 2>&1 | %{check} --check-prefix=UNCLOSED
# UNCLOSED:      {{^.*}}/unclosed.dsl:3:15: error: '(' of choice is never closed{{$}}
# UNCLOSED-NEXT: {{^}}    dense units=choice(8, 16 activation=relu{{$}}
# UNCLOSED-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/tune-unknown-argument.dsl --tune 2>&1 | %{check} --check-prefix=TUNE-UNKNOWN-ARGUMENT
# TUNE-UNKNOWN-ARGUMENT:      {{^.*}}/tune-unknown-argument.dsl:7:22: error: unknown tune argument 'trails'; did you mean 'trials'?{{$}}
# TUNE-UNKNOWN-ARGUMENT-NEXT: {{^}}  tune strategy=random trails=2{{$}}
# TUNE-UNKNOWN-ARGUMENT-NEXT: {{^}}                       ^{{$}}

# RUN: not %cnnc %t/tune-hyperband.dsl --tune 2>&1 | %{check} --check-prefix=TUNE-HYPERBAND
# TUNE-HYPERBAND:      {{^.*}}/tune-hyperband.dsl:7:1: error: tune strategy=hyperband needs max_epochs=N (the epochs of its longest trials){{$}}
# TUNE-HYPERBAND-NEXT: {{^}}  tune strategy=hyperband factor=3{{$}}
# TUNE-HYPERBAND-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/tune-objective.dsl --tune 2>&1 | %{check} --check-prefix=TUNE-OBJECTIVE
# TUNE-OBJECTIVE:      {{^.*}}/tune-objective.dsl:7:41: error: unknown objective 'accuracy'; expected one of val_accuracy, val_loss{{$}}
# TUNE-OBJECTIVE-NEXT: {{^}}  tune strategy=random trials=2 objective=accuracy{{$}}
# TUNE-OBJECTIVE-NEXT: {{^}}                                          ^{{$}}

# RUN: not %cnnc %t/grid-uniform.dsl --tune 2>&1 | %{check} --check-prefix=GRID-UNIFORM
# GRID-UNIFORM:      {{^.*}}/grid-uniform.dsl:3:16: error: strategy=grid needs finite search spaces, and rate@3 has infinitely many values; use choice or int_range{{$}}
# GRID-UNIFORM-NEXT: {{^}}    dropout rate=uniform(0.1, 0.5){{$}}
# GRID-UNIFORM-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/random-no-trials.dsl --tune 2>&1 | %{check} --check-prefix=RANDOM-NO-TRIALS
# RANDOM-NO-TRIALS:      {{^.*}}/random-no-trials.dsl:7:1: error: tune strategy=random needs trials=N{{$}}
# RANDOM-NO-TRIALS-NEXT: {{^}}  tune strategy=random{{$}}
# RANDOM-NO-TRIALS-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/tune-duplicate.dsl --tune 2>&1 | %{check} --check-prefix=TUNE-DUPLICATE
# TUNE-DUPLICATE:      {{^.*}}/tune-duplicate.dsl:8:1: error: duplicate 'tune' statement (the first is on line 7){{$}}
# TUNE-DUPLICATE-NEXT: {{^}}  tune strategy=grid{{$}}
# TUNE-DUPLICATE-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/no-spaces.dsl --tune 2>&1 | %{check} --check-prefix=NO-SPACES
# NO-SPACES:      {{^.*}}/no-spaces.dsl:7:1: error: tune statement without a search space; write choice(...), int_range(...), uniform(...) or log_uniform(...) as an argument's value{{$}}
# NO-SPACES-NEXT: {{^}}  tune strategy=grid{{$}}
# NO-SPACES-NEXT: {{^}}  ^{{$}}

# The first combination (in grid order) that the frontend rejects, with
# the values that make it: the line shown is the instantiated one.

# RUN: not %cnnc %t/bad-combination.dsl --tune 2>&1 | %{check} --check-prefix=BAD-COMBINATION
# BAD-COMBINATION:      {{^.*}}/bad-combination.dsl:3:3: error: conv2d: kernel 40x40 does not fit its 28x28x1 input (with kernel_size@3=40){{$}}
# BAD-COMBINATION-NEXT: {{^}}    conv2d filters=8 kernel_size=40 activation=relu{{$}}
# BAD-COMBINATION-NEXT: {{^}}    ^{{$}}

# One-line errors: a file without a tune statement, and --tune with an
# action of its own.
# RUN: not %cnnc %t/no-tune.dsl --tune 2>&1 | %{check} --check-prefix=NO-TUNE
# NO-TUNE: {{^}}cnnc: error: {{.*}}/no-tune.dsl: --tune needs a tune statement, such as 'tune strategy=random trials=10'{{$}}
# RUN: not %cnnc %t/no-spaces.dsl --tune --train 2>&1 | %{check} --check-prefix=WITH-TRAIN
# WITH-TRAIN: {{^}}cnnc: error: --tune cannot be combined with --train; a search writes its own files (--tune-dir){{$}}
# RUN: not %cnnc %t/no-spaces.dsl --tune-dir d 2>&1 | %{check} --check-prefix=TUNE-DIR
# TUNE-DIR: {{^}}cnnc: error: --tune-dir needs --tune{{$}}
# RUN: not %cnnc %t/no-spaces.dsl --parallel-trials 2 2>&1 | %{check} --check-prefix=PARALLEL
# PARALLEL: {{^}}cnnc: error: --parallel-trials needs --tune{{$}}
# RUN: not %cnnc %t/no-spaces.dsl --tune --parallel-trials 0 2>&1 | %{check} --check-prefix=PARALLEL-ZERO
# PARALLEL-ZERO: {{^}}cnnc: error: --parallel-trials: expects a positive integer, got '0'{{$}}


# A search file run without --tune: the ordinary error, and what to do.
# RUN: not %cnnc %t/plain-run.dsl 2>&1 | %{check} --check-prefix=SPACES-WITHOUT-TUNE
# SPACES-WITHOUT-TUNE:      {{^.*}}/plain-run.dsl:4:15: error: units expects an integer, got a call 'choice(...)'; the file has search spaces: run it with --tune{{$}}
#--- int-range-reversed.dsl
model m {
  input shape=(28, 28, 1)
  dense units=int_range(64, 16) activation=relu
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trials=2
#--- int-range-float.dsl
model m {
  input shape=(28, 28, 1)
  dense units=int_range(8, 64.5) activation=relu
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trials=2
#--- log-uniform-zero.dsl
model m {
  input shape=(28, 28, 1)
  dropout log_uniform(0, 0.5)
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trials=2
#--- choice-empty.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice() activation=relu
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trials=2
#--- nested.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, int_range(1, 4)) activation=relu
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trials=2
#--- unclosed.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, 16 activation=relu
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trials=2
#--- tune-unknown-argument.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, 16)
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trails=2
#--- tune-hyperband.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, 16)
  flatten
  dense units=10 activation=softmax
}
tune strategy=hyperband factor=3
#--- tune-objective.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, 16)
  flatten
  dense units=10 activation=softmax
}
tune strategy=random trials=2 objective=accuracy
#--- grid-uniform.dsl
model m {
  input shape=(28, 28, 1)
  dropout rate=uniform(0.1, 0.5)
  flatten
  dense units=10 activation=softmax
}
tune strategy=grid
#--- random-no-trials.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, 16)
  flatten
  dense units=10 activation=softmax
}
tune strategy=random
#--- tune-duplicate.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, 16)
  flatten
  dense units=10 activation=softmax
}
tune strategy=grid
tune strategy=grid
#--- no-spaces.dsl
model m {
  input shape=(28, 28, 1)
  dense units=16
  flatten
  dense units=10 activation=softmax
}
tune strategy=grid
#--- bad-combination.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=choice(3, 5, 40) activation=relu
  flatten
  dense units=10 activation=softmax
}
tune strategy=grid
#--- no-tune.dsl
model m {
  input shape=(28, 28, 1)
  dense units=choice(8, 16)
  flatten
  dense units=10 activation=softmax
}
#--- plain-run.dsl
model m {
  input shape=(8, 8, 1)
  flatten
  dense units=choice(10, 20) activation=softmax
}
tune strategy=grid
