/* Domain bookkeeping. */
#include <hv/lib.h>
#include <hv/sched.h>

struct domain domains[MAX_DOMAINS];
unsigned int opt_max_domains = 4;
static u64 boot_tsc_khz __initdata = 2400000;

struct domain *domain_lookup(u32 domid)
{
    if (domid >= opt_max_domains || domid >= MAX_DOMAINS)
        return NULL;
    ASSERT(domains[domid].domain_id == domid);
    return &domains[domid];
}

void domain_tsc_info(const struct domain *d, u32 *mode, u64 *elapsed, u32 *khz, u32 *incarnation)
{
    *mode = d->tsc_mode;
    *elapsed = d->tsc_khz * 1000;
    *khz = (u32)d->tsc_khz;
    *incarnation = d->incarnation;
}

void __init domain_init(void)
{
    u32 i;

    for (i = 0; i < MAX_DOMAINS; i++) {
        domains[i].domain_id = i;
        domains[i].max_vcpus = 1;
        domains[i].tsc_khz = boot_tsc_khz;
        domains[i].tsc_mode = 0;
        domains[i].incarnation = 0;
        domains[i].is_privileged = (i == 0);
    }
}
