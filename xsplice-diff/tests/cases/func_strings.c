// __func__ strings are compared by content, never paired by name; a changed function
// using one carries a copy.
//#ExpectOutcome: payload
//#ExpectChanged: second
//#ExpectSame: first
//#ExpectPatched: second
//#ExpectCarried: __func__.*
__attribute__((noinline)) void trace(const char *f, int v) { __asm__ volatile("" :: "r"(f), "r"(v)); }
//+__attribute__((noinline)) void zeroth(void) { trace(__func__, 0); }
__attribute__((noinline)) void first(int v) { trace(__func__, v); }
__attribute__((noinline)) void second(int v)
{
//- trace(__func__, v);
//+ trace(__func__, v + 1);
}
