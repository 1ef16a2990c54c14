# Learning-rate schedules (the optimizer's learning_rate=...) and the
# callbacks reduce_lr_on_plateau, terminate_on_nan and backup_and_restore:
# Keras 3 names, positional order, argument types and ranges. Each case
# below the RUN lines is its own file (split-file); cnnc exits 1 with
# "FILE:LINE:COL: error: MESSAGE", the source line and a caret.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/schedule-unknown.dsl 2>&1 | %{check} --check-prefix=SCHEDULE-UNKNOWN
# SCHEDULE-UNKNOWN:      {{^.*}}/schedule-unknown.dsl:6:38: error: unknown learning-rate schedule 'linear_decay' (expected a number or one of: cosine_decay, exponential_decay, piecewise_constant_decay){{$}}
# SCHEDULE-UNKNOWN-NEXT: {{^}}  compile optimizer=adam(learning_rate=linear_decay(0.1, 10)){{$}}
# SCHEDULE-UNKNOWN-NEXT: {{^}}                                       ^{{$}}

# RUN: not %cnnc %t/schedule-missing-steps.dsl 2>&1 | %{check} --check-prefix=SCHEDULE-MISSING-STEPS
# SCHEDULE-MISSING-STEPS:      {{^.*}}/schedule-missing-steps.dsl:6:38: error: missing required argument 'decay_steps' for cosine_decay{{$}}
# SCHEDULE-MISSING-STEPS-NEXT: {{^}}  compile optimizer=adam(learning_rate=cosine_decay(0.1)){{$}}
# SCHEDULE-MISSING-STEPS-NEXT: {{^}}                                       ^{{$}}

# RUN: not %cnnc %t/schedule-zero-steps.dsl 2>&1 | %{check} --check-prefix=SCHEDULE-ZERO-STEPS
# SCHEDULE-ZERO-STEPS:      {{^.*}}/schedule-zero-steps.dsl:6:60: error: decay_steps must be at least 1, got 0{{$}}
# SCHEDULE-ZERO-STEPS-NEXT: {{^}}  compile optimizer=sgd(learning_rate=exponential_decay(0.1, 0, 0.9)){{$}}
# SCHEDULE-ZERO-STEPS-NEXT: {{^}}                                                             ^{{$}}

# RUN: not %cnnc %t/schedule-no-rate.dsl 2>&1 | %{check} --check-prefix=SCHEDULE-NO-RATE
# SCHEDULE-NO-RATE:      {{^.*}}/schedule-no-rate.dsl:6:37: error: missing required argument 'decay_rate' for exponential_decay{{$}}
# SCHEDULE-NO-RATE-NEXT: {{^}}  compile optimizer=sgd(learning_rate=exponential_decay(0.1, 100)){{$}}
# SCHEDULE-NO-RATE-NEXT: {{^}}                                      ^{{$}}

# RUN: not %cnnc %t/schedule-alpha.dsl 2>&1 | %{check} --check-prefix=SCHEDULE-ALPHA
# SCHEDULE-ALPHA:      {{^.*}}/schedule-alpha.dsl:6:67: error: alpha must be in [0, 1], got 1.5{{$}}
# SCHEDULE-ALPHA-NEXT: {{^}}  compile optimizer=adam(learning_rate=cosine_decay(0.1, 100, alpha=1.5)){{$}}
# SCHEDULE-ALPHA-NEXT: {{^}}                                                                    ^{{$}}

# RUN: not %cnnc %t/schedule-warmup-no-target.dsl 2>&1 | %{check} --check-prefix=SCHEDULE-WARMUP-NO-TARGET
# SCHEDULE-WARMUP-NO-TARGET:      {{^.*}}/schedule-warmup-no-target.dsl:6:38: error: cosine_decay's warmup_steps needs a warmup_target (Keras ignores the warmup without one){{$}}
# SCHEDULE-WARMUP-NO-TARGET-NEXT: {{^}}  compile optimizer=adam(learning_rate=cosine_decay(0.0, 100, warmup_steps=10)){{$}}
# SCHEDULE-WARMUP-NO-TARGET-NEXT: {{^}}                                       ^{{$}}

# RUN: not %cnnc %t/piecewise-count.dsl 2>&1 | %{check} --check-prefix=PIECEWISE-COUNT
# PIECEWISE-COUNT:      {{^.*}}/piecewise-count.dsl:6:74: error: piecewise_constant_decay needs one value more than boundaries, got 2 boundaries and 2 values{{$}}
# PIECEWISE-COUNT-NEXT: {{^}}  compile optimizer=sgd(learning_rate=piecewise_constant_decay([100, 200], [0.1, 0.01])){{$}}
# PIECEWISE-COUNT-NEXT: {{^}}                                                                           ^{{$}}

# RUN: not %cnnc %t/piecewise-order.dsl 2>&1 | %{check} --check-prefix=PIECEWISE-ORDER
# PIECEWISE-ORDER:      {{^.*}}/piecewise-order.dsl:6:68: error: boundaries must increase, got 100 after 200{{$}}
# PIECEWISE-ORDER-NEXT: {{^}}  compile optimizer=sgd(learning_rate=piecewise_constant_decay([200, 100], [0.1, 0.01, 0.001])){{$}}
# PIECEWISE-ORDER-NEXT: {{^}}                                                                     ^{{$}}

# RUN: not %cnnc %t/piecewise-float-boundary.dsl 2>&1 | %{check} --check-prefix=PIECEWISE-FLOAT-BOUNDARY
# PIECEWISE-FLOAT-BOUNDARY:      {{^.*}}/piecewise-float-boundary.dsl:6:63: error: boundaries are step counts (integers from 0 to 2147483647), got 1.5{{$}}
# PIECEWISE-FLOAT-BOUNDARY-NEXT: {{^}}  compile optimizer=sgd(learning_rate=piecewise_constant_decay([1.5], [0.1, 0.01])){{$}}
# PIECEWISE-FLOAT-BOUNDARY-NEXT: {{^}}                                                                ^{{$}}

# RUN: not %cnnc %t/piecewise-not-list.dsl 2>&1 | %{check} --check-prefix=PIECEWISE-NOT-LIST
# PIECEWISE-NOT-LIST:      {{^.*}}/piecewise-not-list.dsl:6:62: error: boundaries expects a non-empty list of numbers, got 100{{$}}
# PIECEWISE-NOT-LIST-NEXT: {{^}}  compile optimizer=sgd(learning_rate=piecewise_constant_decay(100, [0.1, 0.01])){{$}}
# PIECEWISE-NOT-LIST-NEXT: {{^}}                                                               ^{{$}}

# RUN: not %cnnc %t/reduce-lr-with-schedule.dsl 2>&1 | %{check} --check-prefix=REDUCE-LR-WITH-SCHEDULE
# REDUCE-LR-WITH-SCHEDULE:      {{^.*}}/reduce-lr-with-schedule.dsl:7:15: error: reduce_lr_on_plateau cannot change the learning rate of a cosine_decay schedule; give the optimizer a number as learning_rate{{$}}
# REDUCE-LR-WITH-SCHEDULE-NEXT: {{^}}  fit callbacks=[reduce_lr_on_plateau()]{{$}}
# REDUCE-LR-WITH-SCHEDULE-NEXT: {{^}}                ^{{$}}

# RUN: not %cnnc %t/reduce-lr-factor.dsl 2>&1 | %{check} --check-prefix=REDUCE-LR-FACTOR
# REDUCE-LR-FACTOR:      {{^.*}}/reduce-lr-factor.dsl:6:44: error: factor must be in (0, 1), got 1.0{{$}}
# REDUCE-LR-FACTOR-NEXT: {{^}}  fit callbacks=[reduce_lr_on_plateau(factor=1.0)]{{$}}
# REDUCE-LR-FACTOR-NEXT: {{^}}                                             ^{{$}}

# RUN: not %cnnc %t/reduce-lr-factor-zero.dsl 2>&1 | %{check} --check-prefix=REDUCE-LR-FACTOR-ZERO
# REDUCE-LR-FACTOR-ZERO:      {{^.*}}/reduce-lr-factor-zero.dsl:6:44: error: factor must be in (0, 1), got 0{{$}}
# REDUCE-LR-FACTOR-ZERO-NEXT: {{^}}  fit callbacks=[reduce_lr_on_plateau(factor=0)]{{$}}
# REDUCE-LR-FACTOR-ZERO-NEXT: {{^}}                                             ^{{$}}

# RUN: not %cnnc %t/reduce-lr-no-validation.dsl 2>&1 | %{check} --check-prefix=REDUCE-LR-NO-VALIDATION
# REDUCE-LR-NO-VALIDATION:      {{^.*}}/reduce-lr-no-validation.dsl:6:31: error: reduce_lr_on_plateau monitors val_loss, but the fit statement has no validation data; monitor loss or accuracy, or give validation data{{$}}
# REDUCE-LR-NO-VALIDATION-NEXT: {{^}}  fit validation=none callbacks=[reduce_lr_on_plateau(patience=2)]{{$}}
# REDUCE-LR-NO-VALIDATION-NEXT: {{^}}                                ^{{$}}

# RUN: not %cnnc %t/terminate-args.dsl 2>&1 | %{check} --check-prefix=TERMINATE-ARGS
# TERMINATE-ARGS:      {{^.*}}/terminate-args.dsl:6:33: error: terminate_on_nan takes no arguments{{$}}
# TERMINATE-ARGS-NEXT: {{^}}  fit callbacks=[terminate_on_nan(1)]{{$}}
# TERMINATE-ARGS-NEXT: {{^}}                                  ^{{$}}

# RUN: not %cnnc %t/backup-no-dir.dsl 2>&1 | %{check} --check-prefix=BACKUP-NO-DIR
# BACKUP-NO-DIR:      {{^.*}}/backup-no-dir.dsl:6:16: error: missing required argument 'backup_dir' for backup_and_restore{{$}}
# BACKUP-NO-DIR-NEXT: {{^}}  fit callbacks=[backup_and_restore(save_freq=10)]{{$}}
# BACKUP-NO-DIR-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/backup-save-freq.dsl 2>&1 | %{check} --check-prefix=BACKUP-SAVE-FREQ
# BACKUP-SAVE-FREQ:      {{^.*}}/backup-save-freq.dsl:6:51: error: save_freq expects "epoch" or a number of steps, got a string{{$}}
# BACKUP-SAVE-FREQ-NEXT: {{^}}  fit callbacks=[backup_and_restore("bk", save_freq="batch")]{{$}}
# BACKUP-SAVE-FREQ-NEXT: {{^}}                                                    ^{{$}}

# RUN: not %cnnc %t/backup-save-freq-zero.dsl 2>&1 | %{check} --check-prefix=BACKUP-SAVE-FREQ-ZERO
# BACKUP-SAVE-FREQ-ZERO:      {{^.*}}/backup-save-freq-zero.dsl:6:51: error: save_freq must be at least 1, got 0{{$}}
# BACKUP-SAVE-FREQ-ZERO-NEXT: {{^}}  fit callbacks=[backup_and_restore("bk", save_freq=0)]{{$}}
# BACKUP-SAVE-FREQ-ZERO-NEXT: {{^}}                                                    ^{{$}}

# RUN: not %cnnc %t/backup-twice.dsl 2>&1 | %{check} --check-prefix=BACKUP-TWICE
# BACKUP-TWICE:      {{^.*}}/backup-twice.dsl:6:41: error: only one backup_and_restore callback may be given{{$}}
# BACKUP-TWICE-NEXT: {{^}}  fit callbacks=[backup_and_restore("a"), backup_and_restore("b")]{{$}}
# BACKUP-TWICE-NEXT: {{^}}                                          ^{{$}}
#--- schedule-unknown.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(learning_rate=linear_decay(0.1, 10))
#--- schedule-missing-steps.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(learning_rate=cosine_decay(0.1))
#--- schedule-zero-steps.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(learning_rate=exponential_decay(0.1, 0, 0.9))
#--- schedule-no-rate.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(learning_rate=exponential_decay(0.1, 100))
#--- schedule-alpha.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(learning_rate=cosine_decay(0.1, 100, alpha=1.5))
#--- schedule-warmup-no-target.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(learning_rate=cosine_decay(0.0, 100, warmup_steps=10))
#--- piecewise-count.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(learning_rate=piecewise_constant_decay([100, 200], [0.1, 0.01]))
#--- piecewise-order.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(learning_rate=piecewise_constant_decay([200, 100], [0.1, 0.01, 0.001]))
#--- piecewise-float-boundary.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(learning_rate=piecewise_constant_decay([1.5], [0.1, 0.01]))
#--- piecewise-not-list.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=sgd(learning_rate=piecewise_constant_decay(100, [0.1, 0.01]))
#--- reduce-lr-with-schedule.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
compile optimizer=adam(learning_rate=cosine_decay(0.01, 100))
fit callbacks=[reduce_lr_on_plateau()]
#--- reduce-lr-factor.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[reduce_lr_on_plateau(factor=1.0)]
#--- reduce-lr-factor-zero.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[reduce_lr_on_plateau(factor=0)]
#--- reduce-lr-no-validation.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit validation=none callbacks=[reduce_lr_on_plateau(patience=2)]
#--- terminate-args.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[terminate_on_nan(1)]
#--- backup-no-dir.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[backup_and_restore(save_freq=10)]
#--- backup-save-freq.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[backup_and_restore("bk", save_freq="batch")]
#--- backup-save-freq-zero.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[backup_and_restore("bk", save_freq=0)]
#--- backup-twice.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit callbacks=[backup_and_restore("a"), backup_and_restore("b")]
