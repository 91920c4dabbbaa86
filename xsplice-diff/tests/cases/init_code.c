// Init-only code ran at boot and is gone: a change to it is refused.
//#ExpectOutcome: refused
//#ExpectRefusal: InitCode setup_hw init_code.c:
//#ExpectRefusalCount: 1
int hw_ready;
__attribute__((section(".init.text"), noinline)) void setup_hw(int v)
{
//- hw_ready = v;
//+ hw_ready = v + 1;
}
