// Two files with the same base name both define a static helper(): in the image
// util.c#helper is ambiguous, so new code cannot be linked to it.
//#ExpectOutcome: refused
//#ExpectRefusal: AmbiguousSymbol util.c#helper ambiguous in the image: util.c#helper@
//#File: a/util.c
__attribute__((noipa)) static int helper(int x) { return x * 11 + 4; }
int a_entry(int x)
{
//- return helper(x) + 1;
//+ return helper(x) + 2;
}
//#File: b/util.c
__attribute__((noipa)) static int helper(int x) { return x * 13 + 6; }
int b_entry(int x) { return helper(x) + 1; }
