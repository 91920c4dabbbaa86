// Exception table entries point at the faulting instruction and at recovery
// code in `.fixup`, which jumps back. Only the changed function's entry and its
// piece of `.fixup` are carried (the piece moves to offset 0 of the payload's
// `.fixup`); the other function's entry and fixup stay in the image.
//#ExpectOutcome: payload
//#ExpectPatched: reader_b
//#ExpectSame: reader_a
//#ExpectPayloadSection: .ex_table 8
//#ExpectPayloadRelocs: .ex_table reader_b+0x* .fixup+0x0
//#ExpectPayloadSection: .fixup 10
//#ExpectPayloadRelocs: .fixup reader_b*
//#ExpectSection: .fixup code reached through entries: 2 piece(s)
#define SAFE_LOAD(dst, ptr, err) __asm__ volatile(                 \
    "1: movl (%1), %0\n2:\n"                                      \
    ".pushsection .fixup, \"ax\"\n3: movl $" #err ", %0\n jmp 2b\n.popsection\n" \
    ".pushsection .ex_table, \"a\"\n .p2align 2\n .long 1b - ., 3b - .\n.popsection" \
    : "=r" (dst) : "r" (ptr))

__attribute__((noinline)) int reader_a(const int *p)
{
  int v;
  SAFE_LOAD(v, p, -14);
  return v + 1;
}

__attribute__((noinline)) int reader_b(const int *p)
{
  int v;
  SAFE_LOAD(v, p, -14);
//- return v * 2;
//+ return v * 2 + (v < 0);
}
