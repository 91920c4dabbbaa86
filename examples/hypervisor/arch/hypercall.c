/* Hypercall dispatch. */
#include <hv/lib.h>
#include <public/domctl.h>
#include <public/version.h>

#define __HYPERVISOR_xen_version 17
#define __HYPERVISOR_domctl 36
#define NR_hypercalls 64

typedef long (*hypercall_fn_t)(u64, u64, u64);

/* Reported to guests by XENVER_get_features: no optional features. */
u32 arch_get_features(void)
{
    return 0;
}

static long do_ni_hypercall(u64 a1, u64 a2, u64 a3)
{
    (void)a1;
    (void)a2;
    (void)a3;
    return -ENOSYS;
}

const hypercall_fn_t hypercall_table[NR_hypercalls] = {
    [__HYPERVISOR_xen_version] = (hypercall_fn_t)(void (*)(void))do_xen_version,
    [__HYPERVISOR_domctl] = (hypercall_fn_t)(void (*)(void))do_domctl,
};

long do_hypercall(u64 nr, u64 a1, u64 a2, u64 a3)
{
    hypercall_fn_t fn;

    if (nr >= NR_hypercalls)
        return -ENOSYS;
    fn = hypercall_table[nr];
    if (!fn)
        fn = do_ni_hypercall;
    return fn(a1, a2, a3);
}
