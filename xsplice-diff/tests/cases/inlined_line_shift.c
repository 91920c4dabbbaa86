// A `__LINE__` in an inline function of a header moves with the header, not
// with the function it is inlined into: still a line-number-only change.
//#ExpectOutcome: nochange
//#ExpectLineOnly: user
//#File: inl.h
//+/* Two lines added
//+ * above the inline function. */
extern void report(int line);
static inline void check(int v)
{
  if (v < 0)
    report(__LINE__);
}
//#File: inlined_line_shift.c
#include "inl.h"
void report(int line)
{
  __asm__ volatile("" :: "r"(line));
}

__attribute__((noinline)) int user(int v)
{
  check(v);
  return v * 9;
}
