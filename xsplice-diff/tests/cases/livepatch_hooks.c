// Hooks of Xen's own livepatch format have no place in an xSplice payload.
//#ExpectOutcome: refused
//#ExpectRefusal: SpecialSection .livepatch.hooks.load metadata of Xen's own livepatch format
static void my_hook(void) { }
//+__attribute__((used, section(".livepatch.hooks.load"))) static void (*const hook_ptr)(void) = my_hook;

__attribute__((noinline)) int work(int v)
{
//- return v + 1;
//+ return v + 2;
}
