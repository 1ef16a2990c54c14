# The fit statement's classes=[...]: a list of distinct class indexes (>= 0);
# the last layer needs one unit per class kept. Whether the data has the
# classes is known only when it is loaded (tests/api, tests/e2e).
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/not-a-list.dsl 2>&1 | %{check} --check-prefix=CLASSES-NOT-A-LIST
# CLASSES-NOT-A-LIST:      {{^.*}}/not-a-list.dsl:6:13: error: classes expects a list of class indexes such as [5, 6, 7], got 5{{$}}
# CLASSES-NOT-A-LIST-NEXT: {{^}}  fit classes=5{{$}}
# CLASSES-NOT-A-LIST-NEXT: {{^}}              ^{{$}}

# RUN: not %cnnc %t/empty.dsl 2>&1 | %{check} --check-prefix=CLASSES-EMPTY
# CLASSES-EMPTY:      {{^.*}}/empty.dsl:6:13: error: classes expects at least one class index, got an empty list{{$}}
# CLASSES-EMPTY-NEXT: {{^}}  fit classes=[]{{$}}
# CLASSES-EMPTY-NEXT: {{^}}              ^{{$}}

# RUN: not %cnnc %t/not-an-integer.dsl 2>&1 | %{check} --check-prefix=CLASSES-NOT-AN-INTEGER
# CLASSES-NOT-AN-INTEGER:      {{^.*}}/not-an-integer.dsl:6:17: error: classes expects integer class indexes, got 6.5{{$}}
# CLASSES-NOT-AN-INTEGER-NEXT: {{^}}  fit classes=[5, 6.5]{{$}}
# CLASSES-NOT-AN-INTEGER-NEXT: {{^}}                  ^{{$}}

# RUN: not %cnnc %t/a-name.dsl 2>&1 | %{check} --check-prefix=CLASSES-A-NAME
# CLASSES-A-NAME:      {{^.*}}/a-name.dsl:6:28: error: classes expects integer class indexes, got the name 'five'{{$}}
# CLASSES-A-NAME-NEXT: {{^}}  fit dataset=mnist classes=[five]{{$}}
# CLASSES-A-NAME-NEXT: {{^}}                             ^{{$}}

# RUN: not %cnnc %t/negative.dsl 2>&1 | %{check} --check-prefix=CLASSES-NEGATIVE
# CLASSES-NEGATIVE:      {{^.*}}/negative.dsl:6:17: error: a class index must be at least 0, got -1{{$}}
# CLASSES-NEGATIVE-NEXT: {{^}}  fit classes=[5, -1]{{$}}
# CLASSES-NEGATIVE-NEXT: {{^}}                  ^{{$}}

# RUN: not %cnnc %t/duplicate.dsl 2>&1 | %{check} --check-prefix=CLASSES-DUPLICATE
# CLASSES-DUPLICATE:      {{^.*}}/duplicate.dsl:6:20: error: class 5 is listed twice in classes{{$}}
# CLASSES-DUPLICATE-NEXT: {{^}}  fit classes=[5, 6, 5]{{$}}
# CLASSES-DUPLICATE-NEXT: {{^}}                     ^{{$}}

# RUN: not %cnnc %t/too-few-units.dsl 2>&1 | %{check} --check-prefix=CLASSES-TOO-FEW-UNITS
# CLASSES-TOO-FEW-UNITS:      {{^.*}}/too-few-units.dsl:4:3: error: dense: the fit statement's classes list keeps 5 classes, but the last layer has 3 units{{$}}
# CLASSES-TOO-FEW-UNITS-NEXT: {{^}}    dense units=3 activation=softmax{{$}}
# CLASSES-TOO-FEW-UNITS-NEXT: {{^}}    ^{{$}}

#--- not-a-list.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit classes=5
#--- empty.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit classes=[]
#--- not-an-integer.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit classes=[5, 6.5]
#--- a-name.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist classes=[five]
#--- negative.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit classes=[5, -1]
#--- duplicate.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit classes=[5, 6, 5]
#--- too-few-units.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=3 activation=softmax
}
fit dataset=mnist classes=[5, 6, 7, 8, 9]
