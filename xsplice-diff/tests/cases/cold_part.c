// A `.cold` part jumps back into its function. When the function changes without
// moving the code the part jumps to, the part is unchanged but must be carried
// too, or the new code would continue in the old function.
//#ExpectOutcome: payload
//#ExpectPatched: h
//#ExpectChanged: h h.cold
//#ExpectCarried: h h.cold
//#ExpectPayloadRelocs: .text.h.cold slow-0x4 g-0x5 h+0x*
int g, arr[64];
__attribute__((cold, noinline)) void slow(int v)
{
  g = v;
}

__attribute__((noinline)) int h(int v, int n)
{
  int s = 0;
  if (__builtin_expect(v == 42, 0)) {
    slow(v);
    g += 7;
  }
  for (int i = 0; i < n; i++)
    s += arr[i] * v + (s >> 3);
//- return s + 5;
//+ return s + 6;
}
