// The patch adds a new source file whose global function a changed function calls.
//#ExpectOutcome: payload
//#ExpectChanged: entry_point
//#ExpectNew: fresh_helper
//#ExpectPatched: entry_point
//#ExpectCarried: entry_point fresh_helper
//#File: new_object.c
//+int fresh_helper(int);
__attribute__((noinline)) int entry_point(int v)
{
//- return v * 9 + 1;
//+ return fresh_helper(v) * 9 + 1;
}
//#NewFile: extra/fresh.c
//+int fresh_helper(int v) { return v ^ 0x1234; }
