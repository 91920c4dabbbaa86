// -fno-plt calls through the GOT: the relocation is named in the refusal.
//#Cflags: -fno-plt
//#ExpectOutcome: refused
//#ExpectRefusal: UnsupportedReloc caller R_X86_64_GOTPCRELX
//#ExpectRefusalCount: 1
//#File: unsupported_reloc.c
extern void external_fn(int);
int caller(int v)
{
//- external_fn(v * 3);
//+ external_fn(v * 5);
  return v;
}
//#File: other.c
void external_fn(int v) { __asm__ volatile("" :: "r"(v)); }
