// The same table used only by code: the users get a new copy of it.
//#ExpectOutcome: payload
//#ExpectChanged: get_ops
//#ExpectSame: call_ops
//#ExpectNew: h3
//#ExpectPatched: get_ops
//#ExpectCarried: ops h3
struct ops { int (*fn)(int); int (*other)(int); };
__attribute__((noinline)) int h1(int v) { return v * 3 + 1; }
__attribute__((noinline)) int h2(int v) { return v * 5 + 2; }
//+__attribute__((noinline)) int h3(int v) { return v * 7 + 3; }
//-static const struct ops ops = { h1, h2 };
//+static const struct ops ops = { h1, h3 };
__attribute__((noinline)) const struct ops *get_ops(int v) { __asm__ volatile("" :: "r"(v)); return v > 100 ? 0 : &ops; }
__attribute__((noinline)) int call_ops(int v, int which) { const struct ops *o = get_ops(v); return o ? (which ? o->other(v) : o->fn(v)) + 17 : -1; }
