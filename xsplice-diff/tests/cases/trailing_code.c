// Code after a function's `.size` (a `ud2` gcc places after closing the symbol of
// a function ending in a noreturn path) belongs to the last function of its
// section: it is compared, carried, and its bug frame found.
//#ExpectOutcome: payload
//#ExpectPatched: tail_fn
//#ExpectPayloadSection: .text.tail_fn 10
//#ExpectPayloadSection: .bug_frames.2 8
//#ExpectPayloadRelocs: .bug_frames.2 tail_fn+0x8 .rodata.str1.1+0x4
__asm__(".pushsection .text.tail_fn, \"ax\", @progbits\n"
        ".globl tail_fn\n.type tail_fn, @function\ntail_fn:\n"
        " testl %edi, %edi\n js 1f\n"
//-     " movl %edi, %eax\n"
//+     " leal 1(%rdi), %eax\n"
        " ret\n.size tail_fn, . - tail_fn\n"
        "1: ud2\n"
        ".pushsection .bug_frames.2, \"a\", @progbits\n .p2align 2\n"
        "2: .long 1b - 2b\n .long 3f - 2b\n.popsection\n"
        ".pushsection .rodata.str1.1, \"aMS\", @progbits, 1\n3: .asciz \"tail\"\n.popsection\n"
        ".popsection");
