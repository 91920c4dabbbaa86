// The function's code is identical but its exception table entry leads to
// different recovery code: the function is changed (it is carried with its
// entry and new fixup), the other one is not.
//#ExpectOutcome: payload
//#ExpectPatched: reader_b
//#ExpectSame: reader_a
//#ExpectChanged: reader_b
//#ExpectPayloadSection: .ex_table 8
//#ExpectPayloadSection: .fixup 10
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
//- SAFE_LOAD(v, p, -14);
//+ SAFE_LOAD(v, p, -22);
  return v * 2;
}
