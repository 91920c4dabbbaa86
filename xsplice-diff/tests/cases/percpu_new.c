// A new per-CPU variable cannot be added by a payload (the per-CPU areas are laid
// out at boot); an existing one is referenced in the image.
//#ExpectOutcome: refused
//#ExpectRefusal: SpecialSection per_cpu__extra per-CPU areas are laid out at boot
#define DEFINE_PER_CPU(t, n) __attribute__((section(".bss.percpu"))) t per_cpu__##n
static DEFINE_PER_CPU(long, hits);
//+DEFINE_PER_CPU(long, extra);

__attribute__((noinline)) long count(void)
{
//+ per_cpu__extra++;
  return ++per_cpu__hits;
}
