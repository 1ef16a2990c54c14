# The fit statement's callbacks=[...]: Keras 3 names, positional order,
# argument types and ranges, and val_ monitors without validation data.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/callbacks-bad-mode.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-BAD-MODE
# CALLBACKS-BAD-MODE:      {{^.*}}/callbacks-bad-mode.dsl:6:36: error: unknown mode 'maximum'; expected one of auto, min, max{{$}}
# CALLBACKS-BAD-MODE-NEXT: {{^}}  fit callbacks=[early_stopping(mode=maximum)]{{$}}
# CALLBACKS-BAD-MODE-NEXT: {{^}}                                     ^{{$}}

# RUN: not %cnnc %t/callbacks-bad-monitor.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-BAD-MONITOR
# CALLBACKS-BAD-MONITOR:      {{^.*}}/callbacks-bad-monitor.dsl:6:39: error: unknown monitor 'val_acc'; expected one of loss, accuracy, val_loss, val_accuracy{{$}}
# CALLBACKS-BAD-MONITOR-NEXT: {{^}}  fit callbacks=[early_stopping(monitor=val_acc)]{{$}}
# CALLBACKS-BAD-MONITOR-NEXT: {{^}}                                        ^{{$}}

# RUN: not %cnnc %t/callbacks-checkpoint-empty-path.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-CHECKPOINT-EMPTY-PATH
# CALLBACKS-CHECKPOINT-EMPTY-PATH:      {{^.*}}/callbacks-checkpoint-empty-path.dsl:6:33: error: the filepath is empty{{$}}
# CALLBACKS-CHECKPOINT-EMPTY-PATH-NEXT: {{^}}  fit callbacks=[model_checkpoint("")]{{$}}
# CALLBACKS-CHECKPOINT-EMPTY-PATH-NEXT: {{^}}                                  ^{{$}}

# RUN: not %cnnc %t/callbacks-checkpoint-no-path.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-CHECKPOINT-NO-PATH
# CALLBACKS-CHECKPOINT-NO-PATH:      {{^.*}}/callbacks-checkpoint-no-path.dsl:6:16: error: missing required argument 'filepath' for model_checkpoint{{$}}
# CALLBACKS-CHECKPOINT-NO-PATH-NEXT: {{^}}  fit callbacks=[model_checkpoint(save_best_only=true)]{{$}}
# CALLBACKS-CHECKPOINT-NO-PATH-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/callbacks-csv-not-string.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-CSV-NOT-STRING
# CALLBACKS-CSV-NOT-STRING:      {{^.*}}/callbacks-csv-not-string.dsl:6:27: error: filename expects a string, got the name 'log'{{$}}
# CALLBACKS-CSV-NOT-STRING-NEXT: {{^}}  fit callbacks=[csv_logger(log)]{{$}}
# CALLBACKS-CSV-NOT-STRING-NEXT: {{^}}                            ^{{$}}

# RUN: not %cnnc %t/callbacks-negative-patience.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-NEGATIVE-PATIENCE
# CALLBACKS-NEGATIVE-PATIENCE:      {{^.*}}/callbacks-negative-patience.dsl:6:40: error: patience must be at least 0, got -1{{$}}
# CALLBACKS-NEGATIVE-PATIENCE-NEXT: {{^}}  fit callbacks=[early_stopping(patience=-1)]{{$}}
# CALLBACKS-NEGATIVE-PATIENCE-NEXT: {{^}}                                         ^{{$}}

# RUN: not %cnnc %t/callbacks-not-list.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-NOT-LIST
# CALLBACKS-NOT-LIST:      {{^.*}}/callbacks-not-list.dsl:6:15: error: callbacks expects a list such as [early_stopping(patience=2)], got the name 'early_stopping'{{$}}
# CALLBACKS-NOT-LIST-NEXT: {{^}}  fit callbacks=early_stopping{{$}}
# CALLBACKS-NOT-LIST-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/callbacks-too-many-positional.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-TOO-MANY-POSITIONAL
# CALLBACKS-TOO-MANY-POSITIONAL:      {{^.*}}/callbacks-too-many-positional.dsl:6:36: error: csv_logger takes at most 1 positional argument (filename), got 2{{$}}
# CALLBACKS-TOO-MANY-POSITIONAL-NEXT: {{^}}  fit callbacks=[csv_logger("a.csv", true)]{{$}}
# CALLBACKS-TOO-MANY-POSITIONAL-NEXT: {{^}}                                     ^{{$}}

# RUN: not %cnnc %t/callbacks-unknown-arg.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-UNKNOWN-ARG
# CALLBACKS-UNKNOWN-ARG:      {{^.*}}/callbacks-unknown-arg.dsl:6:43: error: unknown argument 'verbose' for early_stopping; expected one of monitor, min_delta, patience, mode, restore_best_weights, start_from_epoch{{$}}
# CALLBACKS-UNKNOWN-ARG-NEXT: {{^}}  fit callbacks=[early_stopping(patience=2, verbose=1)]{{$}}
# CALLBACKS-UNKNOWN-ARG-NEXT: {{^}}                                            ^{{$}}

# RUN: not %cnnc %t/callbacks-unknown.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-UNKNOWN
# CALLBACKS-UNKNOWN:      {{^.*}}/callbacks-unknown.dsl:6:16: error: unknown callback 'early_stoping'; did you mean 'early_stopping'?{{$}}
# CALLBACKS-UNKNOWN-NEXT: {{^}}  fit callbacks=[early_stoping(patience=2)]{{$}}
# CALLBACKS-UNKNOWN-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/callbacks-val-without-validation.dsl 2>&1 | %{check} --check-prefix=CALLBACKS-VAL-WITHOUT-VALIDATION
# CALLBACKS-VAL-WITHOUT-VALIDATION:      {{^.*}}/callbacks-val-without-validation.dsl:6:31: error: early_stopping monitors val_loss, but the fit statement has no validation data; monitor loss or accuracy, or give validation data{{$}}
# CALLBACKS-VAL-WITHOUT-VALIDATION-NEXT: {{^}}  fit validation=none callbacks=[early_stopping(patience=2)]{{$}}
# CALLBACKS-VAL-WITHOUT-VALIDATION-NEXT: {{^}}                                ^{{$}}

#--- callbacks-bad-mode.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[early_stopping(mode=maximum)]
#--- callbacks-bad-monitor.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[early_stopping(monitor=val_acc)]
#--- callbacks-checkpoint-empty-path.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[model_checkpoint("")]
#--- callbacks-checkpoint-no-path.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[model_checkpoint(save_best_only=true)]
#--- callbacks-csv-not-string.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[csv_logger(log)]
#--- callbacks-negative-patience.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[early_stopping(patience=-1)]
#--- callbacks-not-list.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=early_stopping
#--- callbacks-too-many-positional.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[csv_logger("a.csv", true)]
#--- callbacks-unknown-arg.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[early_stopping(patience=2, verbose=1)]
#--- callbacks-unknown.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[early_stoping(patience=2)]
#--- callbacks-val-without-validation.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit validation=none callbacks=[early_stopping(patience=2)]
