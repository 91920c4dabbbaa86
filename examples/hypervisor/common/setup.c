/* Boot. */
#include <hv/lib.h>
#include <hv/sched.h>

u32 system_state;

static void __init init_banner(void)
{
    hv_log("example hypervisor starting");
    hv_log_num("domains:", opt_max_domains);
}

void __init hv_init(void)
{
    init_banner();
    domain_init();
    system_state = 1;
}

void _start(void)
{
    hv_init();
    for (;;)
        __asm__ volatile("hlt");
}
