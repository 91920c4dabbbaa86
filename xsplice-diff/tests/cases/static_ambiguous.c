// A third same-named static appears in the function: which original one each
// patched static continues cannot be told, so the patch is refused.
//#ExpectOutcome: refused
//#ExpectRefusal: AmbiguousMatch n.* could be any of n.*, n.* in the original
__attribute__((noinline)) int twins(int a)
{
  if (a > 0) { static int n; n += a; return n; }
//+ if (a == 0) { static int n; n++; return n; }
  else { static int n; n -= a; return n * 3; }
}
