// An exception table entry for code no function symbol covers cannot be carried
// with a function: a change to it is refused, naming the section.
//#ExpectOutcome: refused
//#ExpectRefusal: SpecialSection .ex_table describes no function
__asm__(".pushsection .text.stub, \"ax\"\n"
//+     " nop\n"
        "1: movl (%rdi), %eax\n ret\n"
        ".pushsection .ex_table, \"a\"\n .p2align 2\n .long 1b - ., 1b - .\n.popsection\n"
        ".popsection");

__attribute__((noinline)) int plain(int v)
{
  return v + 3;
}
