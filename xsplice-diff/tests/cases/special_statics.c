// Compiler-made statics are never paired by name: a warn-once flag (__warned.N) and
// a switch table (CSWTCH.N) used by a changed function are carried as fresh copies,
// and an unchanged function whose copies were renumbered stays unchanged.
//#ExpectOutcome: payload
//#ExpectChanged: second
//#ExpectSame: first
//#ExpectPatched: second
//#ExpectCarried: __warned.* CSWTCH.*
#define WARN_ONCE(c) ({ static int __warned; int r_ = !!(c); if (r_ && !__warned) { __warned = 1; report(__func__); } r_; })
__attribute__((noinline)) void report(const char *f) { __asm__ volatile("" :: "r"(f)); }
//+__attribute__((noinline)) int zeroth(int v) { WARN_ONCE(v > 1); switch (v) { case 0: return 11; case 1: return 29; case 2: return 37; case 3: return 41; case 4: return 53; default: return 0; } }
__attribute__((noinline)) int first(int v)
{
  WARN_ONCE(v > 7);
  switch (v) { case 0: return 10; case 1: return 20; case 2: return 35; case 3: return 40; case 4: return 55; case 5: return 61; default: return 0; }
}
__attribute__((noinline)) int second(int v)
{
//- WARN_ONCE(v > 9);
//+ WARN_ONCE(v > 8);
  switch (v) { case 0: return 12; case 1: return 22; case 2: return 36; case 3: return 48; case 4: return 57; case 5: return 63; default: return 0; }
}
