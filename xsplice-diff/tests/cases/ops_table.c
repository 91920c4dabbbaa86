// A static const table of function pointers gains a new handler. Functions that
// use the table get a new copy; but the table is also pointed to by existing data
// (a registration record), which would keep using the old table: refused.
//#ExpectOutcome: refused
//#ExpectRefusal: ChangedData ops ops_table.c:10: ops*referenced by existing data (registration)
struct ops { int (*fn)(int); int (*other)(int); };
__attribute__((noinline)) int h1(int v) { return v * 3 + 1; }
__attribute__((noinline)) int h2(int v) { return v * 5 + 2; }
//+__attribute__((noinline)) int h3(int v) { return v * 7 + 3; }
//-static const struct ops ops = { h1, h2 };
//+static const struct ops ops = { h1, h3 };
struct reg { const struct ops *ops; int prio; };
struct reg registration = { &ops, 5 };
__attribute__((noinline)) int call_ops(int v, int which) { return which ? ops.other(v) : ops.fn(v); }
