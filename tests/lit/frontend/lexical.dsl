# Lexical errors: characters, strings and numbers the lexer rejects.
# Each case below the RUN lines is its own file (split-file); cnnc exits 1
# with "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
# the column, checked whitespace and all, and no other error.
# RUN: rm -rf %t && split-file %s %t
# DEFINE: %{check} = FileCheck %s --strict-whitespace --implicit-check-not=error:

# RUN: not %cnnc %t/bad-character.dsl 2>&1 | %{check} --check-prefix=BAD-CHARACTER
# BAD-CHARACTER:      {{^.*}}/bad-character.dsl:3:34: error: unexpected character '$'{{$}}
# BAD-CHARACTER-NEXT: {{^}}    dense units=10 activation=relu ${{$}}
# BAD-CHARACTER-NEXT: {{^}}                                   ^{{$}}

# RUN: not %cnnc %t/unterminated-string.dsl 2>&1 | %{check} --check-prefix=UNTERMINATED-STRING
# UNTERMINATED-STRING:      {{^.*}}/unterminated-string.dsl:6:17: error: unterminated string{{$}}
# UNTERMINATED-STRING-NEXT: {{^}}  fit dataset=idx("data/x{{$}}
# UNTERMINATED-STRING-NEXT: {{^}}                  ^{{$}}

# RUN: not %cnnc %t/bad-number.dsl 2>&1 | %{check} --check-prefix=BAD-NUMBER
# BAD-NUMBER:      {{^.*}}/bad-number.dsl:3:16: error: bad number '0.2.5'{{$}}
# BAD-NUMBER-NEXT: {{^}}    dropout rate=0.2.5{{$}}
# BAD-NUMBER-NEXT: {{^}}                 ^{{$}}

# RUN: not %cnnc %t/number-too-large.dsl 2>&1 | %{check} --check-prefix=NUMBER-TOO-LARGE
# NUMBER-TOO-LARGE:      {{^.*}}/number-too-large.dsl:6:12: error: bad number '12345678901234567890': too large{{$}}
# NUMBER-TOO-LARGE-NEXT: {{^}}  fit epochs=12345678901234567890{{$}}
# NUMBER-TOO-LARGE-NEXT: {{^}}             ^{{$}}

#--- bad-character.dsl
model m {
  input shape=(28, 28, 1)
  dense units=10 activation=relu $
  flatten
  dense units=10 activation=softmax
}
#--- unterminated-string.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit dataset=idx("data/x
#--- bad-number.dsl
model m {
  input shape=(28, 28, 1)
  dropout rate=0.2.5
  flatten
  dense units=10 activation=softmax
}
#--- number-too-large.dsl
model m {
  input shape=(28, 28, 1)
  flatten
  dense units=10 activation=softmax
}
fit epochs=12345678901234567890
