// A 3-byte function cannot hold the 5-byte trampoline.
//#ExpectOutcome: refused
//#ExpectRefusal: TooSmall tiny trampoline needs 5
//#ExpectRefusalCount: 1
//#ExpectChanged: tiny
__attribute__((noinline)) int tiny(void)
{
//- return 0;
//+ return 1;
}
