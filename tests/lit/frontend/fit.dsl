# The fit statement: dataset, validation and the training numbers.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/unknown-dataset.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-DATASET
# UNKNOWN-DATASET:      {{^.*}}/unknown-dataset.dsl:6:13: error: unknown dataset 'mnsit'; did you mean 'mnist'?{{$}}
# UNKNOWN-DATASET-NEXT: {{^}}  fit dataset=mnsit{{$}}
# UNKNOWN-DATASET-NEXT: {{^}}              ^{{$}}

# RUN: not %cnnc %t/idx-without-prefix.dsl 2>&1 | %{check} --check-prefix=IDX-WITHOUT-PREFIX
# IDX-WITHOUT-PREFIX:      {{^.*}}/idx-without-prefix.dsl:6:13: error: dataset idx needs a path prefix, as in idx("data/mnist/"){{$}}
# IDX-WITHOUT-PREFIX-NEXT: {{^}}  fit dataset=idx{{$}}
# IDX-WITHOUT-PREFIX-NEXT: {{^}}              ^{{$}}

# RUN: not %cnnc %t/idx-empty-prefix.dsl 2>&1 | %{check} --check-prefix=IDX-EMPTY-PREFIX
# IDX-EMPTY-PREFIX:      {{^.*}}/idx-empty-prefix.dsl:6:17: error: the idx path prefix is empty{{$}}
# IDX-EMPTY-PREFIX-NEXT: {{^}}  fit dataset=idx(""){{$}}
# IDX-EMPTY-PREFIX-NEXT: {{^}}                  ^{{$}}

# RUN: not %cnnc %t/unknown-validation.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-VALIDATION
# UNKNOWN-VALIDATION:      {{^.*}}/unknown-validation.dsl:6:16: error: unknown validation 'train'; expected one of test, none, split, image_folder(...){{$}}
# UNKNOWN-VALIDATION-NEXT: {{^}}  fit validation=train{{$}}
# UNKNOWN-VALIDATION-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/shuffle-name.dsl 2>&1 | %{check} --check-prefix=SHUFFLE-NAME
# SHUFFLE-NAME:      {{^.*}}/shuffle-name.dsl:6:13: error: shuffle expects true or false, got the name 'yes'{{$}}
# SHUFFLE-NAME-NEXT: {{^}}  fit shuffle=yes{{$}}
# SHUFFLE-NAME-NEXT: {{^}}              ^{{$}}

# RUN: not %cnnc %t/negative-epochs.dsl 2>&1 | %{check} --check-prefix=NEGATIVE-EPOCHS
# NEGATIVE-EPOCHS:      {{^.*}}/negative-epochs.dsl:6:12: error: epochs must be at least 1, got -1{{$}}
# NEGATIVE-EPOCHS-NEXT: {{^}}  fit epochs=-1{{$}}
# NEGATIVE-EPOCHS-NEXT: {{^}}             ^{{$}}

# RUN: not %cnnc %t/zero-batch-size.dsl 2>&1 | %{check} --check-prefix=ZERO-BATCH-SIZE
# ZERO-BATCH-SIZE:      {{^.*}}/zero-batch-size.dsl:6:16: error: batch_size must be at least 1, got 0{{$}}
# ZERO-BATCH-SIZE-NEXT: {{^}}  fit batch_size=0{{$}}
# ZERO-BATCH-SIZE-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/negative-seed.dsl 2>&1 | %{check} --check-prefix=NEGATIVE-SEED
# NEGATIVE-SEED:      {{^.*}}/negative-seed.dsl:6:10: error: seed must be at least 0, got -5{{$}}
# NEGATIVE-SEED-NEXT: {{^}}  fit seed=-5{{$}}
# NEGATIVE-SEED-NEXT: {{^}}           ^{{$}}

# RUN: not %cnnc %t/duplicate-fit-argument.dsl 2>&1 | %{check} --check-prefix=DUPLICATE-FIT-ARGUMENT
# DUPLICATE-FIT-ARGUMENT:      {{^.*}}/duplicate-fit-argument.dsl:6:15: error: duplicate argument 'epochs'{{$}}
# DUPLICATE-FIT-ARGUMENT-NEXT: {{^}}  fit epochs=10 epochs=2{{$}}
# DUPLICATE-FIT-ARGUMENT-NEXT: {{^}}                ^{{$}}

#--- unknown-dataset.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnsit
#--- idx-without-prefix.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=idx
#--- idx-empty-prefix.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=idx("")
#--- unknown-validation.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit validation=train
#--- shuffle-name.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit shuffle=yes
#--- negative-epochs.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit epochs=-1
#--- zero-batch-size.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit batch_size=0
#--- negative-seed.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit seed=-5
#--- duplicate-fit-argument.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit epochs=10 epochs=2
