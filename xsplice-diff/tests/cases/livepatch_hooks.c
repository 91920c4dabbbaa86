// Hooks (Xen's .livepatch.hooks.*) have no place in an xsplice payload.
//#ExpectOutcome: refused
//#ExpectRefusal: SpecialSection my_hook a loader hook: the xsplice format has none
static void my_hook(void) { }
//+__attribute__((used, section(".livepatch.hooks.load"))) static void (*const hook_ptr)(void) = my_hook;

__attribute__((noinline)) int work(int v)
{
//- return v + 1;
//+ return v + 2;
}
