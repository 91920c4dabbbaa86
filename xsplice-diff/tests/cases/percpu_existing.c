// Changed code using an existing per-CPU variable refers to the running one.
//#ExpectOutcome: payload
//#ExpectPatched: count
//#ExpectUndefined: percpu_existing.c#per_cpu__hits
#define DEFINE_PER_CPU(t, n) __attribute__((section(".bss.percpu"))) t per_cpu__##n
static DEFINE_PER_CPU(long, pad);
static DEFINE_PER_CPU(long, hits);

__attribute__((noinline)) long count(void)
{
  per_cpu__pad = 1;
//- return ++per_cpu__hits;
//+ return per_cpu__hits += 2;
}
