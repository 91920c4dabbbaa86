// A changed function is patched; an unchanged one stays in the image.
//#ExpectOutcome: payload
//#ExpectChanged: compute
//#ExpectSame: other
//#ExpectPatched: compute
//#ExpectUndefined: other
__attribute__((noinline)) int other(int x) { return x * 7 + 1; }
int compute(int x)
{
//- return other(x) * 3 + 11;
//+ return other(x) * 5 + 11;
}
