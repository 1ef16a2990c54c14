# The model block: unknown layers, the input layer and its place, layer
# names given with name=.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/unknown-layer.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-LAYER
# UNKNOWN-LAYER:      {{^.*}}/unknown-layer.dsl:3:3: error: unknown layer 'conv3d'; did you mean 'conv2d'?{{$}}
# UNKNOWN-LAYER-NEXT: {{^}}    conv3d filters=32{{$}}
# UNKNOWN-LAYER-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/unknown-layer-keras-spelling.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-LAYER-KERAS-SPELLING
# UNKNOWN-LAYER-KERAS-SPELLING:      {{^.*}}/unknown-layer-keras-spelling.dsl:3:3: error: unknown layer 'MaxPooling2D'; did you mean 'max_pooling2d'?{{$}}
# UNKNOWN-LAYER-KERAS-SPELLING-NEXT: {{^}}    MaxPooling2D pool_size=2{{$}}
# UNKNOWN-LAYER-KERAS-SPELLING-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/unknown-layer-nothing-close.dsl 2>&1 | %{check} --check-prefix=UNKNOWN-LAYER-NOTHING-CLOSE
# UNKNOWN-LAYER-NOTHING-CLOSE:      {{^.*}}/unknown-layer-nothing-close.dsl:3:3: error: unknown layer 'lstm'; expected one of input, conv2d, max_pooling2d, average_pooling2d, global_average_pooling2d, global_max_pooling2d, batch_normalization, dropout, flatten, dense, activation, leaky_re_lu, elu, zero_padding2d, random_flip, random_rotation, random_zoom, random_translation, random_contrast, random_brightness, random_crop, rescaling{{$}}
# UNKNOWN-LAYER-NOTHING-CLOSE-NEXT: {{^}}    lstm units=8{{$}}
# UNKNOWN-LAYER-NOTHING-CLOSE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/missing-input.dsl 2>&1 | %{check} --check-prefix=MISSING-INPUT
# MISSING-INPUT:      {{^.*}}/missing-input.dsl:1:1: error: model 'm' has no input; its first layer must be 'input shape=(h, w, c)'{{$}}
# MISSING-INPUT-NEXT: {{^}}  model m {{{$}}
# MISSING-INPUT-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/input-not-first.dsl 2>&1 | %{check} --check-prefix=INPUT-NOT-FIRST
# INPUT-NOT-FIRST:      {{^.*}}/input-not-first.dsl:3:3: error: input must be the first layer of the model{{$}}
# INPUT-NOT-FIRST-NEXT: {{^}}    input shape=(28, 28, 1){{$}}
# INPUT-NOT-FIRST-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/input-twice.dsl 2>&1 | %{check} --check-prefix=INPUT-TWICE
# INPUT-TWICE:      {{^.*}}/input-twice.dsl:3:3: error: duplicate input layer; the first is on line 2{{$}}
# INPUT-TWICE-NEXT: {{^}}    input shape=(28, 28, 1){{$}}
# INPUT-TWICE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/no-layers.dsl 2>&1 | %{check} --check-prefix=NO-LAYERS
# NO-LAYERS:      {{^.*}}/no-layers.dsl:1:1: error: model 'm' has no layers after its input{{$}}
# NO-LAYERS-NEXT: {{^}}  model m {{{$}}
# NO-LAYERS-NEXT: {{^}}  ^{{$}}

# RUN: not %cnnc %t/duplicate-layer-name.dsl 2>&1 | %{check} --check-prefix=DUPLICATE-LAYER-NAME
# DUPLICATE-LAYER-NAME:      {{^.*}}/duplicate-layer-name.dsl:4:22: error: duplicate layer name 'feat' (also used on line 3){{$}}
# DUPLICATE-LAYER-NAME-NEXT: {{^}}    dense units=4 name=feat{{$}}
# DUPLICATE-LAYER-NAME-NEXT: {{^}}                       ^{{$}}

# RUN: not %cnnc %t/reserved-name.dsl 2>&1 | %{check} --check-prefix=RESERVED-NAME
# RESERVED-NAME:      {{^.*}}/reserved-name.dsl:3:22: error: layer name 'labels' is reserved for a graph value{{$}}
# RESERVED-NAME-NEXT: {{^}}    dense units=4 name=labels{{$}}
# RESERVED-NAME-NEXT: {{^}}                       ^{{$}}

# RUN: not %cnnc %t/name-integer.dsl 2>&1 | %{check} --check-prefix=NAME-INTEGER
# NAME-INTEGER:      {{^.*}}/name-integer.dsl:3:22: error: name expects an identifier, got 3{{$}}
# NAME-INTEGER-NEXT: {{^}}    dense units=4 name=3{{$}}
# NAME-INTEGER-NEXT: {{^}}                       ^{{$}}

# RUN: not %cnnc %t/name-not-identifier.dsl 2>&1 | %{check} --check-prefix=NAME-NOT-IDENTIFIER
# NAME-NOT-IDENTIFIER:      {{^.*}}/name-not-identifier.dsl:3:22: error: layer name "my layer" is not an identifier (letters, digits and _, not starting with a digit){{$}}
# NAME-NOT-IDENTIFIER-NEXT: {{^}}    dense units=4 name="my layer"{{$}}
# NAME-NOT-IDENTIFIER-NEXT: {{^}}                       ^{{$}}

#--- unknown-layer.dsl
model m {
  input shape=(28, 28, 1)
  conv3d filters=32
  flatten
  dense units=10 activation=softmax
}
#--- unknown-layer-keras-spelling.dsl
model m {
  input shape=(28, 28, 1)
  MaxPooling2D pool_size=2
  flatten
  dense units=10 activation=softmax
}
#--- unknown-layer-nothing-close.dsl
model m {
  input shape=(28, 28, 1)
  lstm units=8
  flatten
  dense units=10 activation=softmax
}
#--- missing-input.dsl
model m {
  flatten
  dense units=10 activation=softmax
}
#--- input-not-first.dsl
model m {
  flatten
  input shape=(28, 28, 1)
  dense units=10 activation=softmax
}
#--- input-twice.dsl
model m {
  input shape=(28, 28, 1)
  input shape=(28, 28, 1)
  flatten
}
#--- no-layers.dsl
model m {
  input shape=(28, 28, 1)
}
#--- duplicate-layer-name.dsl
model m {
  input shape=(28, 28, 1)
  dense units=4 name=feat
  dense units=4 name=feat
  flatten
  dense units=10 activation=softmax
}
#--- reserved-name.dsl
model m {
  input shape=(28, 28, 1)
  dense units=4 name=labels
  flatten
  dense units=10 activation=softmax
}
#--- name-integer.dsl
model m {
  input shape=(28, 28, 1)
  dense units=4 name=3
  flatten
  dense units=10 activation=softmax
}
#--- name-not-identifier.dsl
model m {
  input shape=(28, 28, 1)
  dense units=4 name="my layer"
  flatten
  dense units=10 activation=softmax
}
