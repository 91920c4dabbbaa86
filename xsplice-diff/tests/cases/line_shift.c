// Adding a comment moves the assertion in the later function by two lines: the only
// difference in its code is the __LINE__ immediate. Not a functional change.
//#ExpectOutcome: nochange
//#ExpectLineOnly: later
//#ExpectSame: first later warn_at
//#ExpectLineDelta: later 2
__attribute__((noinline)) void warn_at(const char *file, int line) { __asm__ volatile("" :: "r"(file), "r"(line)); }
int first(int x) { return x + 1; }
//+/* explain first()
//+ */
int later(int x)
{
  if (x < 0)
    warn_at(__FILE__, __LINE__);
  return x * 2;
}
