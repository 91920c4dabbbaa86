// With ENDBR64 at the entry the trampoline goes after it: 9 bytes are needed.
//#Cflags: -fcf-protection=full
//#ExpectOutcome: refused
//#ExpectRefusal: TooSmall tiny landing pad
//#ExpectRefusalCount: 1
__attribute__((noinline)) int tiny(void)
{
//- return 0;
//+ return 1;
}
