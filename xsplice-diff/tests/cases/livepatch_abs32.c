// Xen's livepatch loader implements R_X86_64_64, PC32 and PLT32 only: code using
// 32-bit absolute addresses (not position-independent) is refused for that format.
//#Format: livepatch
//#Cflags: -fno-pic -mcmodel=small
//#ExpectOutcome: refused
//#ExpectRefusal: UnsupportedReloc pick R_X86_64_32S (11) at +0x9
int table[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

__attribute__((noinline)) int pick(long i)
{
    if (i < 0 || i > 7)
        return -22;
//- return table[i];
//+ return table[i] + 1;
}
