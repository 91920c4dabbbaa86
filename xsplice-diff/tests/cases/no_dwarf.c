// Without -g the checks that need DWARF say they could not run; the payload is
// still built and a shifted __LINE__ is then a change.
//#Cflags: -g0
//#ExpectOutcome: payload
//#ExpectWarning: struct layout check could not run
//#ExpectChanged: compute later
//#ExpectPatched: compute later
__attribute__((noinline)) void warn_at(const char *file, int line) { __asm__ volatile("" :: "r"(file), "r"(line)); }
int compute(int x)
{
//- return x * 3 + 11;
//+ return x * 5 + 11;
//+
}
int later(int x)
{
  if (x < 0)
    warn_at(__FILE__, __LINE__);
  return x * 2;
}
