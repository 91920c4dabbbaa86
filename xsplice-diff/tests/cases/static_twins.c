// Two block-scoped statics with the same name in one function are paired by the
// order in which the function uses them; the changed function refers to both in the
// image as file#name.
//#ExpectOutcome: payload
//#ExpectChanged: twins
//#ExpectPatched: twins
//#ExpectUndefined: static_twins.c#n.* static_twins.c#n.*
__attribute__((noinline)) int twins(int a)
{
  if (a > 0) { static int n; n += a; return n; }
//- else { static int n; n -= a; return n * 3; }
//+ else { static int n; n -= a; return n * 5; }
}
