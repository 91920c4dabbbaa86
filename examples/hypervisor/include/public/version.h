/* Guest-visible interface of the version hypercall (shaped like Xen's). */
#ifndef PUBLIC_VERSION_H
#define PUBLIC_VERSION_H

#include <hv/types.h>

#define XENVER_version 0
#define XENVER_extraversion 1
#define XENVER_compile_info 2
#define XENVER_capabilities 3
#define XENVER_changeset 4
#define XENVER_platform_parameters 5
#define XENVER_get_features 6
#define XENVER_pagesize 7

#define XEN_EXTRAVERSION_LEN 16
struct xen_compile_info {
    char compiler[64];
    char compile_by[16];
    char compile_domain[32];
    char compile_date[32];
};

struct xen_platform_parameters {
    u64 virt_start;
};

struct xen_feature_info {
    u32 submap_idx;
    u32 submap;
};

long do_xen_version(int cmd, u64 arg);

#endif
