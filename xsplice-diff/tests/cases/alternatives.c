// Alternatives (`struct alt_instr`, 14 bytes): the changed function's entries
// are carried with exactly their replacement code. Another function's entry
// points into the middle of that replacement; the replacement length stored in
// the entry keeps it in one piece anyway.
//#ExpectOutcome: payload
//#ExpectPatched: fence_b
//#ExpectSame: fence_a
//#ExpectPayloadSection: .altinstructions 14
//#ExpectPayloadRelocs: .altinstructions fence_b+0x* .altinstr_replacement+0x0
//#ExpectPayloadBytes: .altinstr_replacement 31c0ffc0
#define ALTERNATIVE(orig, repl, feature) __asm__ volatile(                 \
    "661: " orig "\n662:\n"                                               \
    ".pushsection .altinstructions, \"a\"\n"                              \
    " .long 661b - .\n .long 663f - .\n .word " #feature "\n"             \
    " .byte 662b - 661b\n .byte 664f - 663f\n .byte 0\n .byte 0\n"        \
    ".popsection\n"                                                       \
    ".pushsection .altinstr_replacement, \"ax\"\n663: " repl "\n664:\n.popsection" \
    ::: "eax")

int sink;

__attribute__((noinline)) void fence_a(void)
{
  ALTERNATIVE("nop; nop; nop", "lfence", 1);
  /* An entry pointing into the middle of fence_b's replacement. */
  __asm__ volatile("661: nop; nop\n662:\n"
                   ".pushsection .altinstructions, \"a\"\n"
                   " .long 661b - .\n .long repl_mid - .\n .word 3\n"
                   " .byte 2\n .byte 2\n .byte 0\n .byte 0\n"
                   ".popsection");
  sink = 1;
}

__attribute__((noinline)) void fence_b(void)
{
  ALTERNATIVE("nop; nop; nop; nop", "xorl %%eax, %%eax\nrepl_mid: incl %%eax", 2);
//- sink = 2;
//+ sink = 3;
}
