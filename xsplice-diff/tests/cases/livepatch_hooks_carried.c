// A livepatch payload carries the patched source's hooks: each function a hook
// section points at is new code of the payload, and a hook of that kind.
//#Format: livepatch
//#Cflags: -fpie
//#ExpectOutcome: payload
//#ExpectHook: Load my_load
//#ExpectHook: Unload my_unload
//#ExpectHook: PreApply my_check
int counter;
//+static void my_load(void) { counter = 1; }
//+static void my_unload(void) { counter = 0; }
//+static int my_check(void *payload) { return counter ? 0 : -1; }
//+__attribute__((used, section(".livepatch.hooks.load"))) static void (*const load_ptr)(void) = my_load;
//+__attribute__((used, section(".livepatch.hooks.unload"))) static void (*const unload_ptr)(void) = my_unload;
//+__attribute__((used, section(".livepatch.hooks.preapply"))) static int (*const pre_ptr)(void *) = my_check;

__attribute__((noinline)) int work(int v)
{
    if (v > 100)
        return -22;
//- return v + 1;
//+ return v + counter + 2;
}
