# The augmentation layers and rescaling: Keras 3's argument names, types
# and ranges, and where a random_* layer may stand (right after input; only
# augmentation layers and rescaling before it). Each case below the RUN
# lines is its own file (split-file); cnnc exits 1 with "FILE:LINE:COL:
# error: MESSAGE", the source line and a caret under the column.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/augment-after-conv.dsl 2>&1 | %{check} --check-prefix=AUGMENT-AFTER-CONV
# AUGMENT-AFTER-CONV:      {{^.*}}/augment-after-conv.dsl:4:3: error: random_flip: random_flip must come right after input (only augmentation layers and rescaling may stand before it){{$}}
# AUGMENT-AFTER-CONV-NEXT: {{^}}    random_flip{{$}}
# AUGMENT-AFTER-CONV-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/augment-after-dropout.dsl 2>&1 | %{check} --check-prefix=AUGMENT-AFTER-DROPOUT
# AUGMENT-AFTER-DROPOUT:      {{^.*}}/augment-after-dropout.dsl:5:3: error: random_rotation: random_rotation must come right after input (only augmentation layers and rescaling may stand before it){{$}}
# AUGMENT-AFTER-DROPOUT-NEXT: {{^}}    random_rotation 0.1{{$}}
# AUGMENT-AFTER-DROPOUT-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/augment-contrast-negative.dsl 2>&1 | %{check} --check-prefix=AUGMENT-CONTRAST-NEGATIVE
# AUGMENT-CONTRAST-NEGATIVE:      {{^.*}}/augment-contrast-negative.dsl:3:19: error: factor must be in [0, 1], got -0.2{{$}}
# AUGMENT-CONTRAST-NEGATIVE-NEXT: {{^}}    random_contrast -0.2{{$}}
# AUGMENT-CONTRAST-NEGATIVE-NEXT: {{^}}                    ^{{$}}

# RUN: not %cnnc %t/augment-crop-zero.dsl 2>&1 | %{check} --check-prefix=AUGMENT-CROP-ZERO
# AUGMENT-CROP-ZERO:      {{^.*}}/augment-crop-zero.dsl:3:15: error: height must be at least 1, got 0{{$}}
# AUGMENT-CROP-ZERO-NEXT: {{^}}    random_crop 0 10{{$}}
# AUGMENT-CROP-ZERO-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/augment-factor-string.dsl 2>&1 | %{check} --check-prefix=AUGMENT-FACTOR-STRING
# AUGMENT-FACTOR-STRING:      {{^.*}}/augment-factor-string.dsl:3:26: error: width_factor expects a number or (low, high), got a string{{$}}
# AUGMENT-FACTOR-STRING-NEXT: {{^}}    random_translation 0.1 "x"{{$}}
# AUGMENT-FACTOR-STRING-NEXT: {{^}}                           ^{{$}}

# RUN: not %cnnc %t/augment-fill-mode.dsl 2>&1 | %{check} --check-prefix=AUGMENT-FILL-MODE
# AUGMENT-FILL-MODE:      {{^.*}}/augment-fill-mode.dsl:3:29: error: unknown fill_mode 'mirror'; expected one of reflect, wrap, constant, nearest{{$}}
# AUGMENT-FILL-MODE-NEXT: {{^}}    random_zoom 0.1 fill_mode=mirror{{$}}
# AUGMENT-FILL-MODE-NEXT: {{^}}                              ^{{$}}

# RUN: not %cnnc %t/augment-flip-mode.dsl 2>&1 | %{check} --check-prefix=AUGMENT-FLIP-MODE
# AUGMENT-FLIP-MODE:      {{^.*}}/augment-flip-mode.dsl:3:20: error: unknown mode 'diagonal'; expected one of horizontal, vertical, horizontal_and_vertical{{$}}
# AUGMENT-FLIP-MODE-NEXT: {{^}}    random_flip mode=diagonal{{$}}
# AUGMENT-FLIP-MODE-NEXT: {{^}}                     ^{{$}}

# RUN: not %cnnc %t/augment-interpolation.dsl 2>&1 | %{check} --check-prefix=AUGMENT-INTERPOLATION
# AUGMENT-INTERPOLATION:      {{^.*}}/augment-interpolation.dsl:3:37: error: unknown interpolation 'area'; expected one of bilinear, nearest{{$}}
# AUGMENT-INTERPOLATION-NEXT: {{^}}    random_rotation 0.1 interpolation=area{{$}}
# AUGMENT-INTERPOLATION-NEXT: {{^}}                                      ^{{$}}

# RUN: not %cnnc %t/augment-rescaling-missing.dsl 2>&1 | %{check} --check-prefix=AUGMENT-RESCALING-MISSING
# AUGMENT-RESCALING-MISSING:      {{^.*}}/augment-rescaling-missing.dsl:3:3: error: missing required argument 'scale' for rescaling{{$}}
# AUGMENT-RESCALING-MISSING-NEXT: {{^}}    rescaling offset=1{{$}}
# AUGMENT-RESCALING-MISSING-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/augment-rotation-missing.dsl 2>&1 | %{check} --check-prefix=AUGMENT-ROTATION-MISSING
# AUGMENT-ROTATION-MISSING:      {{^.*}}/augment-rotation-missing.dsl:3:3: error: missing required argument 'factor' for random_rotation{{$}}
# AUGMENT-ROTATION-MISSING-NEXT: {{^}}    random_rotation fill_mode=wrap{{$}}
# AUGMENT-ROTATION-MISSING-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/augment-rotation-range.dsl 2>&1 | %{check} --check-prefix=AUGMENT-ROTATION-RANGE
# AUGMENT-ROTATION-RANGE:      {{^.*}}/augment-rotation-range.dsl:3:26: error: factor must be in [-1, 1], got 1.5{{$}}
# AUGMENT-ROTATION-RANGE-NEXT: {{^}}    random_rotation factor=1.5{{$}}
# AUGMENT-ROTATION-RANGE-NEXT: {{^}}                           ^{{$}}

# RUN: not %cnnc %t/augment-value-range.dsl 2>&1 | %{check} --check-prefix=AUGMENT-VALUE-RANGE
# AUGMENT-VALUE-RANGE:      {{^.*}}/augment-value-range.dsl:3:37: error: value_range must be two different finite numbers{{$}}
# AUGMENT-VALUE-RANGE-NEXT: {{^}}    random_brightness 0.2 value_range=(1, 1){{$}}
# AUGMENT-VALUE-RANGE-NEXT: {{^}}                                      ^{{$}}

# RUN: not %cnnc %t/augment-zoom-range.dsl 2>&1 | %{check} --check-prefix=AUGMENT-ZOOM-RANGE
# AUGMENT-ZOOM-RANGE:      {{^.*}}/augment-zoom-range.dsl:3:30: error: height_factor must be in (-1, 1], got -1{{$}}
# AUGMENT-ZOOM-RANGE-NEXT: {{^}}    random_zoom height_factor=(-1, 0.2){{$}}
# AUGMENT-ZOOM-RANGE-NEXT: {{^}}                               ^{{$}}

#--- augment-after-conv.dsl
model m {
  input shape=(28, 28, 1)
  conv2d 4 3
  random_flip
  flatten
  dense units=10 activation=softmax
}
#--- augment-after-dropout.dsl
model m {
  input shape=(28, 28, 1)
  rescaling 0.5
  dropout 0.1
  random_rotation 0.1
  flatten
  dense units=10 activation=softmax
}
#--- augment-contrast-negative.dsl
model m {
  input shape=(28, 28, 1)
  random_contrast -0.2
  flatten
  dense units=10 activation=softmax
}
#--- augment-crop-zero.dsl
model m {
  input shape=(28, 28, 1)
  random_crop 0 10
  flatten
  dense units=10 activation=softmax
}
#--- augment-factor-string.dsl
model m {
  input shape=(28, 28, 1)
  random_translation 0.1 "x"
  flatten
  dense units=10 activation=softmax
}
#--- augment-fill-mode.dsl
model m {
  input shape=(28, 28, 1)
  random_zoom 0.1 fill_mode=mirror
  flatten
  dense units=10 activation=softmax
}
#--- augment-flip-mode.dsl
model m {
  input shape=(28, 28, 1)
  random_flip mode=diagonal
  flatten
  dense units=10 activation=softmax
}
#--- augment-interpolation.dsl
model m {
  input shape=(28, 28, 1)
  random_rotation 0.1 interpolation=area
  flatten
  dense units=10 activation=softmax
}
#--- augment-rescaling-missing.dsl
model m {
  input shape=(28, 28, 1)
  rescaling offset=1
  flatten
  dense units=10 activation=softmax
}
#--- augment-rotation-missing.dsl
model m {
  input shape=(28, 28, 1)
  random_rotation fill_mode=wrap
  flatten
  dense units=10 activation=softmax
}
#--- augment-rotation-range.dsl
model m {
  input shape=(28, 28, 1)
  random_rotation factor=1.5
  flatten
  dense units=10 activation=softmax
}
#--- augment-value-range.dsl
model m {
  input shape=(28, 28, 1)
  random_brightness 0.2 value_range=(1, 1)
  flatten
  dense units=10 activation=softmax
}
#--- augment-zoom-range.dsl
model m {
  input shape=(28, 28, 1)
  random_zoom height_factor=(-1, 0.2)
  flatten
  dense units=10 activation=softmax
}
