// Changing the initial value of existing data cannot be patched.
//#ExpectOutcome: refused
//#ExpectRefusal: ChangedData limit changed_data.c:6: limit
//#ExpectRefusal: ChangedData scale moved from .bss.scale to .data.scale
//#ExpectRefusalCount: 2
//-int limit = 10;
//+int limit = 20;
//-static int scale;
//+static int scale = 3;
__attribute__((noinline)) void set_scale(int s) { scale = s; }
__attribute__((noinline)) int get(int x) { return limit * scale + x * 7; }
