// A switch compiled to a jump table: the table (an anonymous read-only section whose
// entries point into the function) is carried with the new function.
//#ExpectOutcome: payload
//#ExpectChanged: dispatch
//#ExpectPatched: dispatch
//#ExpectCarried: .rodata.dispatch
//#ExpectRelocTypes: R_X86_64_PC32 R_X86_64_PLT32
__attribute__((noinline)) int op(int k) { __asm__ volatile("" :: "r"(k)); return k; }
int dispatch(int c, int v)
{
  switch (c) {
  case 0: return op(v + 10);
  case 1: return op(v * 3);
  case 2: return op(v - 7);
  case 3: return op(v ^ 0x55);
  case 4: return op(v << 2);
//- case 5: return op(v >> 1);
//+ case 5: return op(v >> 3);
  case 6: return op(v | 9);
  default: return -1;
  }
}
