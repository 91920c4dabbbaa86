// A special section whose size is not a whole number of the table's entries
// (here 13-byte alternatives, as older Linux had) is refused with a hint to
// override the table.
//#ExpectOutcome: refused
//#ExpectRefusal: SpecialSection .altinstructions not a whole number of 14-byte entries
__attribute__((noinline)) int f(int v)
{
  __asm__ volatile("661: nop\n662:\n"
                   ".pushsection .altinstructions, \"a\"\n"
                   " .long 661b - .\n .long 663f - .\n .word 1\n .byte 1, 1, 0\n"
                   ".popsection\n"
                   ".pushsection .altinstr_replacement, \"ax\"\n663: int3\n.popsection");
//- return v + 1;
//+ return v + 2;
}
