// A location record (file, line) kept in read-only data by a later function moves
// with the edit: recognised as a line-number-only change of the data.
//#ExpectOutcome: payload
//#ExpectChanged: first
//#ExpectPatched: first
//#ExpectLineOnly: where.*
//#ExpectSame: later
struct loc { const char *file; int line; };
__attribute__((noinline)) void record(const struct loc *l) { __asm__ volatile("" :: "r"(l)); }
int first(int x)
{
//- return x * 13 + 1001;
//+ int y = x * 17;
//+ return y + 1001;
}
int later(int x)
{
  static const struct loc where = { __FILE__, __LINE__ };
  if (x < 0)
    record(&where);
  return x * 2;
}
