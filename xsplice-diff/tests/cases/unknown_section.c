// A changed function in a section the tool does not know, and a table the tool
// does not know that points at carried code: all refused, each naming the source
// file and line (a section has none of its own: that of the code in or behind it).
//#ExpectOutcome: refused
//#ExpectRefusal: UnknownSection .fastpath unknown_section.c:*: .fastpath (unknown_section.o): section changed
//#ExpectRefusal: UnknownSection fast_op unknown_section.c:*: fast_op (unknown_section.o): needed (changed function
//#ExpectRefusal: UnknownSection .mytab unknown_section.c:*: .mytab (unknown_section.o): describes carried code (handler)
//#ExpectRefusalCount: 3
//#ExpectChanged: fast_op handler
__attribute__((section(".fastpath"), noinline)) int fast_op(int x)
{
//- return x * 3 + 1;
//+ return x * 5 + 1;
}
__attribute__((noinline)) int handler(int x)
{
//- return x * x + 11;
//+ return x * x + 12;
}
__attribute__((used, section(".mytab"))) static int (*const entries[])(int) = { handler };
int use(int x) { return fast_op(x) + handler(x); }
