// Xen-style bug frames: the line number lives in a special section, not in the
// code. A shift of the line numbers alone is recognised and ignored.
//#ExpectOutcome: nochange
//#ExpectSection: .bug_frames line-number-only change
#define BUG_ON(c) do { if (c) __asm__ volatile("1: ud2\n.pushsection .bug_frames,\"a\"\n.long 1b - .\n.long %c0\n.popsection" :: "i"(__LINE__)); } while (0)
//+/* a new comment
//+ * moves the code below */
__attribute__((noinline)) int guarded(int v)
{
  BUG_ON(v < 0);
  return v * 2 + 1;
}
