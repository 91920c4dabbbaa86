// A fix that adds a new helper function and a new string.
//#ExpectOutcome: payload
//#ExpectChanged: check
//#ExpectNew: report_range
//#ExpectPatched: check
//#ExpectCarried: check report_range
//#ExpectString: "value out of range"
//#ExpectUndefined: log_msg
__attribute__((noinline)) void log_msg(const char *s) { __asm__ volatile("" :: "r"(s)); }
//+static __attribute__((noinline)) void report_range(int v)
//+{
//+ log_msg("value out of range");
//+ __asm__ volatile("" :: "r"(v));
//+}
int check(int v)
{
  if (v > 100) {
//-   log_msg("too big");
//+   report_range(v);
    return -1;
  }
  return v;
}
