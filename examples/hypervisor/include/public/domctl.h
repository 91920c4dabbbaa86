/* Guest-visible interface of the domain control hypercall (shaped like Xen's). */
#ifndef PUBLIC_DOMCTL_H
#define PUBLIC_DOMCTL_H

#include <hv/types.h>

#define XEN_DOMCTL_getdomaininfo 0
#define XEN_DOMCTL_pausedomain 1
#define XEN_DOMCTL_unpausedomain 2
#define XEN_DOMCTL_max_vcpus 3
#define XEN_DOMCTL_gettscinfo 4
#define XEN_DOMCTL_settscinfo 5
#define XEN_DOMCTL_NR 6

struct xen_guest_tsc_info {
    u32 tsc_mode;
    u32 gtsc_khz;
    u32 incarnation;
    u32 pad;
    u64 elapsed_nsec;
};

struct xen_domctl {
    u32 cmd;
    u32 domain;
    union {
        struct xen_guest_tsc_info tsc_info;
        u32 max_vcpus;
        u64 pad[4];
    } u;
};

long do_domctl(u64 u_domctl);

struct domain;
long arch_do_domctl(struct xen_domctl *op, struct domain *d, u64 u_domctl);

#endif
