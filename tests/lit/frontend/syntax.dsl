# Syntax errors: statements, the model block and the shape of values.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/not-a-statement.dsl 2>&1 | %{check} --check-prefix=NOT-A-STATEMENT
# NOT-A-STATEMENT:      {{^.*}}/not-a-statement.dsl:1:1: error: expected a statement (model, compile or fit), got '='{{$}}
# NOT-A-STATEMENT-NEXT: {{^}}  = 3{{$}}
# NOT-A-STATEMENT-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/unknown-statement.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-STATEMENT
# UNKNOWN-STATEMENT:      {{^.*}}/unknown-statement.dsl:6:1: error: unknown statement 'fitt'; did you mean 'fit'?{{$}}
# UNKNOWN-STATEMENT-NEXT: {{^}}  fitt dataset=mnist{{$}}
# UNKNOWN-STATEMENT-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/unknown-statement-nothing-close.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-STATEMENT-NOTHING-CLOSE
# UNKNOWN-STATEMENT-NOTHING-CLOSE:      {{^.*}}/unknown-statement-nothing-close.dsl:6:1: error: unknown statement 'train'; expected one of model, compile, fit{{$}}
# UNKNOWN-STATEMENT-NOTHING-CLOSE-NEXT: {{^}}  train epochs=3{{$}}
# UNKNOWN-STATEMENT-NOTHING-CLOSE-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/duplicate-statement.dsl 2>&1 | %{check} --check-prefix=DUPLICATE-STATEMENT
# DUPLICATE-STATEMENT:      {{^.*}}/duplicate-statement.dsl:7:1: error: duplicate 'compile' statement{{$}}
# DUPLICATE-STATEMENT-NEXT: {{^}}  compile optimizer=adam{{$}}
# DUPLICATE-STATEMENT-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/duplicate-model.dsl 2>&1 | %{check} --check-prefix=DUPLICATE-MODEL
# DUPLICATE-MODEL:      {{^.*}}/duplicate-model.dsl:6:1: error: duplicate 'model' statement{{$}}
# DUPLICATE-MODEL-NEXT: {{^}}  model n {{{$}}
# DUPLICATE-MODEL-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/no-model.dsl 2>&1 | %{check} --check-prefix=NO-MODEL
# NO-MODEL:      {{^.*}}/no-model.dsl:1:23: error: no model in this file; expected 'model <name> { ... }'{{$}}
# NO-MODEL-NEXT: {{^}}  compile optimizer=adam{{$}}
# NO-MODEL-NEXT: {{^}}                        ^{{$}}

# RUN: not %cnnc %t/missing-model-name.dsl 2>&1 | %{check} --check-prefix=MISSING-MODEL-NAME
# MISSING-MODEL-NAME:      {{^.*}}/missing-model-name.dsl:1:7: error: expected a model name after 'model', got '{'{{$}}
# MISSING-MODEL-NAME-NEXT: {{^}}  model {{{$}}
# MISSING-MODEL-NAME-NEXT: {{^}}        ^{{$}}

# RUN: not %cnnc %t/missing-brace.dsl 2>&1 | %{check} --check-prefix=MISSING-BRACE
# MISSING-BRACE:      {{^.*}}/missing-brace.dsl:1:8: error: expected '{' after the model name, got end of line{{$}}
# MISSING-BRACE-NEXT: {{^}}  model m{{$}}
# MISSING-BRACE-NEXT: {{^}}         ^{{$}}

# RUN: not %cnnc %t/layer-on-the-brace-line.dsl 2>&1 | %{check} --check-prefix=LAYER-ON-THE-BRACE-LINE
# LAYER-ON-THE-BRACE-LINE:      {{^.*}}/layer-on-the-brace-line.dsl:1:11: error: expected end of line after '{' (one layer per line), got 'input'{{$}}
# LAYER-ON-THE-BRACE-LINE-NEXT: {{^}}  model m { input shape=(28, 28, 1){{$}}
# LAYER-ON-THE-BRACE-LINE-NEXT: {{^}}            ^{{$}}

# RUN: not %cnnc %t/unclosed-model.dsl 2>&1 | %{check} --check-prefix=UNCLOSED-MODEL
# UNCLOSED-MODEL:      {{^.*}}/unclosed-model.dsl:3:10: error: expected '}' to close model 'm' (opened on line 1){{$}}
# UNCLOSED-MODEL-NEXT: {{^}}    flatten{{$}}
# UNCLOSED-MODEL-NEXT: {{^}}           ^{{$}}

# RUN: not %cnnc %t/statement-inside-model.dsl 2>&1 | %{check} --check-prefix=STATEMENT-INSIDE-MODEL
# STATEMENT-INSIDE-MODEL:      {{^.*}}/statement-inside-model.dsl:4:1: error: expected '}' to close model 'm' before 'compile'{{$}}
# STATEMENT-INSIDE-MODEL-NEXT: {{^}}  compile optimizer=sgd{{$}}
# STATEMENT-INSIDE-MODEL-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/layer-outside-model.dsl 2>&1 | %{check} --check-prefix=LAYER-OUTSIDE-MODEL
# LAYER-OUTSIDE-MODEL:      {{^.*}}/layer-outside-model.dsl:6:1: error: layer 'dense' outside of the model block{{$}}
# LAYER-OUTSIDE-MODEL-NEXT: {{^}}  dense units=3{{$}}
# LAYER-OUTSIDE-MODEL-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/text-after-brace.dsl 2>&1 | %{check} --check-prefix=TEXT-AFTER-BRACE
# TEXT-AFTER-BRACE:      {{^.*}}/text-after-brace.dsl:5:3: error: expected end of line after the model statement, got 'dense'{{$}}
# TEXT-AFTER-BRACE-NEXT: {{^}}  } dense{{$}}
# TEXT-AFTER-BRACE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/missing-equals.dsl 2>&1 | %{check} --check-prefix=MISSING-EQUALS
# MISSING-EQUALS:      {{^.*}}/missing-equals.dsl:3:32: error: expected '=' after 'kernel_size', got end of line{{$}}
# MISSING-EQUALS-NEXT: {{^}}    conv2d filters=32 kernel_size{{$}}
# MISSING-EQUALS-NEXT: {{^}}                                 ^{{$}}

# RUN: not %cnnc %t/missing-value.dsl 2>&1 | %{check} --check-prefix=MISSING-VALUE
# MISSING-VALUE:      {{^.*}}/missing-value.dsl:3:18: error: expected a value, got end of line{{$}}
# MISSING-VALUE-NEXT: {{^}}    conv2d filters={{$}}
# MISSING-VALUE-NEXT: {{^}}                   ^{{$}}

# RUN: not %cnnc %t/missing-comma.dsl 2>&1 | %{check} --check-prefix=MISSING-COMMA
# MISSING-COMMA:      {{^.*}}/missing-comma.dsl:3:35: error: expected ',' or ')', got '3'{{$}}
# MISSING-COMMA-NEXT: {{^}}    conv2d filters=8 kernel_size=(3 3){{$}}
# MISSING-COMMA-NEXT: {{^}}                                    ^{{$}}

# RUN: not %cnnc %t/empty-tuple.dsl 2>&1 | %{check} --check-prefix=EMPTY-TUPLE
# EMPTY-TUPLE:      {{^.*}}/empty-tuple.dsl:3:33: error: expected a value, got ')'{{$}}
# EMPTY-TUPLE-NEXT: {{^}}    conv2d filters=8 kernel_size=(){{$}}
# EMPTY-TUPLE-NEXT: {{^}}                                  ^{{$}}

# RUN: not %cnnc %t/too-deep.dsl 2>&1 | %{check} --check-prefix=TOO-DEEP
# TOO-DEEP:      {{^.*}}/too-deep.dsl:6:27: error: value nested too deeply{{$}}
# TOO-DEEP-NEXT: {{^}}  fit seed=(((((((((((((((((((((((((((((((((((((((({{$}}
# TOO-DEEP-NEXT: {{^}}                            ^{{$}}

#--- not-a-statement.dsl
= 3
#--- unknown-statement.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fitt dataset=mnist
#--- unknown-statement-nothing-close.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
train epochs=3
#--- duplicate-statement.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd
compile optimizer=adam
#--- duplicate-model.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
model n {
#--- no-model.dsl
compile optimizer=adam

#--- missing-model-name.dsl
model {
#--- missing-brace.dsl
model m
#--- layer-on-the-brace-line.dsl
model m { input shape=(28, 28, 1)
}
#--- unclosed-model.dsl
model m {
  input shape=(28, 28, 1)
  flatten

#--- statement-inside-model.dsl
model m {
  input shape=(28, 28, 1)
  flatten
compile optimizer=sgd
#--- layer-outside-model.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
dense units=3
#--- text-after-brace.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
} dense
#--- missing-equals.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=32 kernel_size
  flatten
  dense units=10 activation=softmax
}
#--- missing-value.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=
  flatten
  dense units=10 activation=softmax
}
#--- missing-comma.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=(3 3)
  flatten
  dense units=10 activation=softmax
}
#--- empty-tuple.dsl
model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=()
  flatten
  dense units=10 activation=softmax
}
#--- too-deep.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit seed=((((((((((((((((((((((((((((((((((((((((
