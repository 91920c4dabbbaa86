// Without -ffunction-sections, calls inside .text are resolved by the assembler and
// leave no relocation: a function from such a section cannot be moved.
//#Cflags: -fno-function-sections
//#ExpectOutcome: refused
//#ExpectRefusal: Unsupported compute .text holds several functions
__attribute__((noinline)) int helper(int x) { return x * 7 + 1; }
int compute(int x)
{
//- return helper(x) * 3 + 11;
//+ return helper(x) * 5 + 11;
}
