# image_folder(...) datasets and the validation data they give: argument
# names, types and ranges as Keras's image_dataset_from_directory has them,
# validation=split|image_folder(...) against the dataset, and the input
# shape against image_size and color_mode.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/folder-bad-color.dsl 2>&1 | %{check} --check-prefix=FOLDER-BAD-COLOR
# FOLDER-BAD-COLOR:      {{^.*}}/folder-bad-color.dsl:6:43: error: unknown color_mode 'greyscale'; did you mean 'grayscale'?{{$}}
# FOLDER-BAD-COLOR-NEXT: {{^}}  fit dataset=image_folder("p/", color_mode=greyscale){{$}}
# FOLDER-BAD-COLOR-NEXT: {{^}}                                            ^{{$}}

# RUN: not %cnnc %t/folder-bad-interp.dsl 2>&1 | %{check} --check-prefix=FOLDER-BAD-INTERP
# FOLDER-BAD-INTERP:      {{^.*}}/folder-bad-interp.dsl:6:46: error: unknown interpolation 'bicubic'; expected one of bilinear, nearest, area{{$}}
# FOLDER-BAD-INTERP-NEXT: {{^}}  fit dataset=image_folder("p/", interpolation=bicubic){{$}}
# FOLDER-BAD-INTERP-NEXT: {{^}}                                               ^{{$}}

# RUN: not %cnnc %t/folder-crop-bad.dsl 2>&1 | %{check} --check-prefix=FOLDER-CROP-BAD
# FOLDER-CROP-BAD:      {{^.*}}/folder-crop-bad.dsl:6:53: error: crop_to_aspect_ratio expects true or false, got 1{{$}}
# FOLDER-CROP-BAD-NEXT: {{^}}  fit dataset=image_folder("p/", crop_to_aspect_ratio=1){{$}}
# FOLDER-CROP-BAD-NEXT: {{^}}                                                      ^{{$}}

# RUN: not %cnnc %t/folder-empty-call.dsl 2>&1 | %{check} --check-prefix=FOLDER-EMPTY-CALL
# FOLDER-EMPTY-CALL:      {{^.*}}/folder-empty-call.dsl:6:13: error: missing required argument 'directory' for image_folder{{$}}
# FOLDER-EMPTY-CALL-NEXT: {{^}}  fit dataset=image_folder(){{$}}
# FOLDER-EMPTY-CALL-NEXT: {{^}}              ^{{$}}

# RUN: not %cnnc %t/folder-empty-dir.dsl 2>&1 | %{check} --check-prefix=FOLDER-EMPTY-DIR
# FOLDER-EMPTY-DIR:      {{^.*}}/folder-empty-dir.dsl:6:26: error: the image_folder directory is empty{{$}}
# FOLDER-EMPTY-DIR-NEXT: {{^}}  fit dataset=image_folder(""){{$}}
# FOLDER-EMPTY-DIR-NEXT: {{^}}                           ^{{$}}

# RUN: not %cnnc %t/folder-no-args.dsl 2>&1 | %{check} --check-prefix=FOLDER-NO-ARGS
# FOLDER-NO-ARGS:      {{^.*}}/folder-no-args.dsl:6:13: error: dataset image_folder needs a directory, as in image_folder("photos/", image_size=(64, 64)){{$}}
# FOLDER-NO-ARGS-NEXT: {{^}}  fit dataset=image_folder{{$}}
# FOLDER-NO-ARGS-NEXT: {{^}}              ^{{$}}

# RUN: not %cnnc %t/folder-not-string.dsl 2>&1 | %{check} --check-prefix=FOLDER-NOT-STRING
# FOLDER-NOT-STRING:      {{^.*}}/folder-not-string.dsl:6:26: error: directory expects a string, got the name 'photos'{{$}}
# FOLDER-NOT-STRING-NEXT: {{^}}  fit dataset=image_folder(photos){{$}}
# FOLDER-NOT-STRING-NEXT: {{^}}                           ^{{$}}

# RUN: not %cnnc %t/folder-shape-channels.dsl 2>&1 | %{check} --check-prefix=FOLDER-SHAPE-CHANNELS
# FOLDER-SHAPE-CHANNELS:      {{^.*}}/folder-shape-channels.dsl:2:3: error: input: the dataset image_folder gives 28x28x3 images (image_size=(28, 28), color_mode=rgb, line 6), but the input shape is 28x28x1{{$}}
# FOLDER-SHAPE-CHANNELS-NEXT: {{^}}    input shape=(28, 28, 1){{$}}
# FOLDER-SHAPE-CHANNELS-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/folder-shape-default.dsl 2>&1 | %{check} --check-prefix=FOLDER-SHAPE-DEFAULT
# FOLDER-SHAPE-DEFAULT:      {{^.*}}/folder-shape-default.dsl:2:3: error: input: the dataset image_folder gives 256x256x3 images (image_size=(256, 256), color_mode=rgb, line 6), but the input shape is 28x28x1{{$}}
# FOLDER-SHAPE-DEFAULT-NEXT: {{^}}    input shape=(28, 28, 1){{$}}
# FOLDER-SHAPE-DEFAULT-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/folder-size-int.dsl 2>&1 | %{check} --check-prefix=FOLDER-SIZE-INT
# FOLDER-SIZE-INT:      {{^.*}}/folder-size-int.dsl:6:43: error: image_size expects (height, width), got 28{{$}}
# FOLDER-SIZE-INT-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=28){{$}}
# FOLDER-SIZE-INT-NEXT: {{^}}                                            ^{{$}}

# RUN: not %cnnc %t/folder-size-zero.dsl 2>&1 | %{check} --check-prefix=FOLDER-SIZE-ZERO
# FOLDER-SIZE-ZERO:      {{^.*}}/folder-size-zero.dsl:6:44: error: image_size must be between 1 and 2147483647, got 0{{$}}
# FOLDER-SIZE-ZERO-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=(0, 28)){{$}}
# FOLDER-SIZE-ZERO-NEXT: {{^}}                                             ^{{$}}

# RUN: not %cnnc %t/folder-split-one.dsl 2>&1 | %{check} --check-prefix=FOLDER-SPLIT-ONE
# FOLDER-SPLIT-ONE:      {{^.*}}/folder-split-one.dsl:6:92: error: validation_split must be between 0 and 1 (exclusive), got 1{{$}}
# FOLDER-SPLIT-ONE-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale, validation_split=1){{$}}
# FOLDER-SPLIT-ONE-NEXT: {{^}}                                                                                             ^{{$}}

# RUN: not %cnnc %t/folder-split-zero.dsl 2>&1 | %{check} --check-prefix=FOLDER-SPLIT-ZERO
# FOLDER-SPLIT-ZERO:      {{^.*}}/folder-split-zero.dsl:6:92: error: validation_split must be between 0 and 1 (exclusive), got 0{{$}}
# FOLDER-SPLIT-ZERO-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale, validation_split=0){{$}}
# FOLDER-SPLIT-ZERO-NEXT: {{^}}                                                                                             ^{{$}}

# RUN: not %cnnc %t/folder-two-positional.dsl 2>&1 | %{check} --check-prefix=FOLDER-TWO-POSITIONAL
# FOLDER-TWO-POSITIONAL:      {{^.*}}/folder-two-positional.dsl:6:32: error: image_folder takes at most 1 positional argument (directory), got 2{{$}}
# FOLDER-TWO-POSITIONAL-NEXT: {{^}}  fit dataset=image_folder("p/", (28, 28)){{$}}
# FOLDER-TWO-POSITIONAL-NEXT: {{^}}                                 ^{{$}}

# RUN: not %cnnc %t/folder-unknown-arg.dsl 2>&1 | %{check} --check-prefix=FOLDER-UNKNOWN-ARG
# FOLDER-UNKNOWN-ARG:      {{^.*}}/folder-unknown-arg.dsl:6:53: error: unknown argument 'colour_mode' for image_folder; did you mean 'color_mode'?{{$}}
# FOLDER-UNKNOWN-ARG-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=(28, 28), colour_mode=grayscale){{$}}
# FOLDER-UNKNOWN-ARG-NEXT: {{^}}                                                      ^{{$}}

# RUN: not %cnnc %t/validation-folder-both.dsl 2>&1 | %{check} --check-prefix=VALIDATION-FOLDER-BOTH
# VALIDATION-FOLDER-BOTH:      {{^.*}}/validation-folder-both.dsl:6:108: error: validation=image_folder(...) and the dataset's validation_split both give validation data; drop one{{$}}
# VALIDATION-FOLDER-BOTH-NEXT: {{^}}  ...ataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale, validation_split=0.2) validation=image_folder("t/"){{$}}
# VALIDATION-FOLDER-BOTH-NEXT: {{^}}                                                                                                           ^{{$}}

# RUN: not %cnnc %t/validation-folder-mnist.dsl 2>&1 | %{check} --check-prefix=VALIDATION-FOLDER-MNIST
# VALIDATION-FOLDER-MNIST:      {{^.*}}/validation-folder-mnist.dsl:6:16: error: validation=image_folder(...) needs dataset=image_folder(...), not mnist{{$}}
# VALIDATION-FOLDER-MNIST-NEXT: {{^}}  fit validation=image_folder("t/"){{$}}
# VALIDATION-FOLDER-MNIST-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/validation-folder-name.dsl 2>&1 | %{check} --check-prefix=VALIDATION-FOLDER-NAME
# VALIDATION-FOLDER-NAME:      {{^.*}}/validation-folder-name.dsl:6:86: error: validation=image_folder needs a directory, as in image_folder("test/"){{$}}
# VALIDATION-FOLDER-NAME-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=image_folder{{$}}
# VALIDATION-FOLDER-NAME-NEXT: {{^}}                                                                                       ^{{$}}

# RUN: not %cnnc %t/validation-folder-shape.dsl 2>&1 | %{check} --check-prefix=VALIDATION-FOLDER-SHAPE
# VALIDATION-FOLDER-SHAPE:      {{^.*}}/validation-folder-shape.dsl:2:3: error: input: the validation image_folder gives 28x28x3 images (image_size=(28, 28), color_mode=rgb, line 6), but the input shape is 28x28x1{{$}}
# VALIDATION-FOLDER-SHAPE-NEXT: {{^}}    input shape=(28, 28, 1){{$}}
# VALIDATION-FOLDER-SHAPE-NEXT: {{^}}    ^{{$}}

# RUN: not %cnnc %t/validation-folder-split-arg.dsl 2>&1 | %{check} --check-prefix=VALIDATION-FOLDER-SPLIT-ARG
# VALIDATION-FOLDER-SPLIT-ARG:      {{^.*}}/validation-folder-split-arg.dsl:6:105: error: unknown argument 'validation_split' for image_folder; expected one of directory, image_size, color_mode, interpolation, crop_to_aspect_ratio{{$}}
# VALIDATION-FOLDER-SPLIT-ARG-NEXT: {{^}}  ...ataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=image_folder("t/", validation_split=0.5){{$}}
# VALIDATION-FOLDER-SPLIT-ARG-NEXT: {{^}}                                                                                                        ^{{$}}

# RUN: not %cnnc %t/validation-split-mnist.dsl 2>&1 | %{check} --check-prefix=VALIDATION-SPLIT-MNIST
# VALIDATION-SPLIT-MNIST:      {{^.*}}/validation-split-mnist.dsl:6:30: error: validation=split needs dataset=image_folder(..., validation_split=...), not mnist{{$}}
# VALIDATION-SPLIT-MNIST-NEXT: {{^}}  fit dataset=mnist validation=split{{$}}
# VALIDATION-SPLIT-MNIST-NEXT: {{^}}                               ^{{$}}

# RUN: not %cnnc %t/validation-split-nosplit.dsl 2>&1 | %{check} --check-prefix=VALIDATION-SPLIT-NOSPLIT
# VALIDATION-SPLIT-NOSPLIT:      {{^.*}}/validation-split-nosplit.dsl:6:86: error: validation=split needs validation_split=... in the dataset's image_folder(...){{$}}
# VALIDATION-SPLIT-NOSPLIT-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=split{{$}}
# VALIDATION-SPLIT-NOSPLIT-NEXT: {{^}}                                                                                       ^{{$}}

# RUN: not %cnnc %t/validation-test-folder.dsl 2>&1 | %{check} --check-prefix=VALIDATION-TEST-FOLDER
# VALIDATION-TEST-FOLDER:      {{^.*}}/validation-test-folder.dsl:6:86: error: an image folder has no test split; use validation=split (with validation_split=...) or validation=image_folder("test/"){{$}}
# VALIDATION-TEST-FOLDER-NEXT: {{^}}  fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=test{{$}}
# VALIDATION-TEST-FOLDER-NEXT: {{^}}                                                                                       ^{{$}}

#--- folder-bad-color.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", color_mode=greyscale)
#--- folder-bad-interp.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", interpolation=bicubic)
#--- folder-crop-bad.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", crop_to_aspect_ratio=1)
#--- folder-empty-call.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder()
#--- folder-empty-dir.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("")
#--- folder-no-args.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder
#--- folder-not-string.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder(photos)
#--- folder-shape-channels.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28))
#--- folder-shape-default.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/")
#--- folder-size-int.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=28)
#--- folder-size-zero.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(0, 28))
#--- folder-split-one.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale, validation_split=1)
#--- folder-split-zero.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale, validation_split=0)
#--- folder-two-positional.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", (28, 28))
#--- folder-unknown-arg.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), colour_mode=grayscale)
#--- validation-folder-both.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale, validation_split=0.2) validation=image_folder("t/")
#--- validation-folder-mnist.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit validation=image_folder("t/")
#--- validation-folder-name.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=image_folder
#--- validation-folder-shape.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=image_folder("t/", color_mode=rgb)
#--- validation-folder-split-arg.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=image_folder("t/", validation_split=0.5)
#--- validation-split-mnist.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist validation=split
#--- validation-split-nosplit.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=split
#--- validation-test-folder.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=image_folder("p/", image_size=(28, 28), color_mode=grayscale) validation=test
