// The function moves by two lines and a constant changes by exactly two: the
// constant is not a line with code, so this is a real change, not a line shift.
//#ExpectOutcome: payload
//#ExpectChanged: later
//#ExpectPatched: later
int first(int x) { return x + 1; }
//+/* two new
//+ lines */
__attribute__((noinline)) int later(int x)
{
//- return x * 2 + 500;
//+ return x * 2 + 502;
}
