# The fit statement's initial_weights="FILE" and skip_mismatch=true|false
# (Keras's load_weights(by_name=True, skip_mismatch=...)): argument types,
# and skip_mismatch only with initial_weights.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/name.dsl 2>&1 | %{check} --check-prefix=NAME
# NAME:      {{^.*}}/name.dsl:6:35: error: initial_weights expects a file name in quotes, got the name 'w'{{$}}
# NAME-NEXT: {{^}}  fit dataset=mnist initial_weights=w{{$}}
# NAME-NEXT: {{^}}                                    ^{{$}}

# RUN: not %cnnc %t/empty.dsl 2>&1 | %{check} --check-prefix=EMPTY
# EMPTY:      {{^.*}}/empty.dsl:6:35: error: the initial_weights file name is empty{{$}}

# RUN: not %cnnc %t/alone.dsl 2>&1 | %{check} --check-prefix=ALONE
# ALONE:      {{^.*}}/alone.dsl:6:19: error: skip_mismatch applies to initial_weights, which the fit statement does not give{{$}}
# ALONE-NEXT: {{^}}  fit dataset=mnist skip_mismatch=true{{$}}
# ALONE-NEXT: {{^}}                    ^{{$}}

# RUN: not %cnnc %t/not-bool.dsl 2>&1 | %{check} --check-prefix=NOT-BOOL
# NOT-BOOL:      {{^.*}}/not-bool.dsl:6:65: error: skip_mismatch expects true or false, got 1{{$}}

#--- name.dsl
model m {
  input shape=(8, 8, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist initial_weights=w
#--- empty.dsl
model m {
  input shape=(8, 8, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist initial_weights=""
#--- alone.dsl
model m {
  input shape=(8, 8, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist skip_mismatch=true
#--- not-bool.dsl
model m {
  input shape=(8, 8, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist initial_weights="w.safetensors" skip_mismatch=1
