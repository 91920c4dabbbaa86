// `cmpb $0, flag_b(%rip)` ends one byte after its displacement (the immediate):
// in a section shared by several statics, the reference must name flag_b, not
// the byte before it (flag_a).
//#ExpectOutcome: payload
//#ExpectPatched: test_b
//#ExpectPayloadRelocs: .text.test_b read_mostly_imm.c#flag_b-0x5
#define __read_mostly __attribute__((section(".data.read_mostly")))
static char flag_a __read_mostly = 1;
static char flag_b __read_mostly = 1;

__attribute__((noinline)) int test_a(void)
{
  return flag_a ? 3 : 4;
}

__attribute__((noinline)) int test_b(void)
{
//- return flag_b ? 1 : 2;
//+ return flag_b ? 1 : 5;
}
