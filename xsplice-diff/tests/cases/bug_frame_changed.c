// A changed function with a bug frame changes the bug frame section, which the
// tool cannot carry: refused, naming the section.
//#ExpectOutcome: refused
//#ExpectRefusal: UnknownSection .bug_frames does not know how to carry it
#define BUG_ON(c) do { if (c) __asm__ volatile("1: ud2\n.pushsection .bug_frames,\"a\"\n.long 1b - .\n.long %c0\n.popsection" :: "i"(__LINE__)); } while (0)
__attribute__((noinline)) int guarded(int v)
{
//+ v = v * 3 + 7;
  BUG_ON(v < 0);
  return v * 2 + 1;
}
