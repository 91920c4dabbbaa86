// Xen registers `.ex_table.pre` entries only for the hypervisor itself, not for a
// payload: carrying a function that has one is refused.
//#ExpectOutcome: refused
//#ExpectRefusal: SpecialSection early_reader loader does not register
__attribute__((noinline)) int early_reader(const int *p)
{
  int v;
  __asm__ volatile("1: movl (%1), %0\n2:\n"
                   ".pushsection .ex_table.pre, \"a\"\n .p2align 2\n .long 1b - ., 2b - .\n.popsection"
                   : "=r" (v) : "r" (p));
//- return v;
//+ return v ^ 1;
}
