// Xen bug frames (`struct bug_frame`: 32-bit displacements from the frame, the
// line number split into their top 7 bits). Only the frames of the changed
// function are carried, with its new line numbers; a run_fn frame's function
// pointer is measured from the frame's start. The unchanged function keeps its
// frame in the image; the one below the new lines only moved (line-only).
//#ExpectOutcome: payload
//#ExpectPatched: guarded
//#ExpectSame: other shifted
//#ExpectLineOnly: shifted
//#ExpectPayloadSection: .bug_frames.2 8
//#ExpectPayloadRelocs: .bug_frames.2 guarded+* .rodata.str1.1+*
//#ExpectBugLine: .bug_frames.2 0 @guarded
//#ExpectPayloadSection: .bug_frames.0 8
//#ExpectPayloadRelocs: .bug_frames.0 guarded+0x* handler+0x4
//#ExpectString: "xen_bug_frames.c"
//#ExpectSection: .bug_frames.2 3 entries of 8 bytes describing 3 function(s)
#define BUG_FRAME(type, line, ptr) __asm__ volatile(                          \
    ".Lb%=: ud2\n"                                                           \
    ".pushsection .bug_frames." #type ", \"a\", @progbits\n .p2align 2\n"     \
    ".Lf%=:\n .long (.Lb%= - .Lf%=) + %c0\n .long (%c1 - .Lf%=) + %c2\n"      \
    ".popsection"                                                            \
    :: "i" (((line) >> 7) << 24), "i" (ptr), "i" (((line) & 127) << 24))
#define BUG_ON(c) do { if (c) BUG_FRAME(2, __LINE__, __FILE__); } while (0)
#define RUN_FN(fn) BUG_FRAME(0, 0, fn)

__attribute__((noinline)) void handler(void)
{
  __asm__ volatile("nop");
}

__attribute__((noinline)) int other(int v)
{
  BUG_ON(v > 1000);
  return v - 1;
}
//+/* two lines
//+ * added */
__attribute__((noinline)) int guarded(int v)
{
//+ v = v * 3 + 7;
  BUG_ON(v < 0); /* @guarded */
  if (v == 5)
    RUN_FN(handler);
  return v * 2 + 1;
}

__attribute__((noinline)) int shifted(int v)
{
  BUG_ON(v == 77);
  return v + 11;
}
