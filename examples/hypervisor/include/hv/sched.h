/* Domains: the unit the hypervisor schedules. */
#ifndef HV_SCHED_H
#define HV_SCHED_H

#include <hv/types.h>

#define MAX_DOMAINS 8

struct domain {
    u32 domain_id;
    u32 max_vcpus;
    u64 tsc_khz;
    u32 tsc_mode;
    u32 incarnation;
    u8 is_privileged;
};

extern struct domain domains[MAX_DOMAINS];
extern unsigned int opt_max_domains;

struct domain *domain_lookup(u32 domid);
void domain_init(void);

#endif
