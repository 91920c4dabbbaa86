/* Architecture-specific domain control operations. */
#include <hv/lib.h>
#include <hv/sched.h>
#include <public/domctl.h>

void domain_tsc_info(const struct domain *d, u32 *mode, u64 *elapsed, u32 *khz, u32 *incarnation);

/* The same name as a helper in common/domctl.c: only file#name tells them apart. */
static noinline int check_args(const struct xen_domctl *op)
{
    if (op->cmd != XEN_DOMCTL_gettscinfo && op->cmd != XEN_DOMCTL_settscinfo &&
        op->cmd != XEN_DOMCTL_getdomaininfo)
        return -ENOSYS;
    return 0;
}

long arch_do_domctl(struct xen_domctl *op, struct domain *d, u64 u_domctl)
{
    long ret = check_args(op);

    if (ret)
        return ret;

    switch (op->cmd) {
    case XEN_DOMCTL_gettscinfo: {
        struct xen_guest_tsc_info info;

        domain_tsc_info(d, &info.tsc_mode, &info.elapsed_nsec, &info.gtsc_khz,
                        &info.incarnation);
        op->u.tsc_info = info;
        if (copy_to_guest(u_domctl, op, sizeof(*op)))
            ret = -EFAULT;
        break;
    }

    case XEN_DOMCTL_settscinfo:
        d->tsc_mode = op->u.tsc_info.tsc_mode;
        d->tsc_khz = op->u.tsc_info.gtsc_khz;
        d->incarnation++;
        break;

    case XEN_DOMCTL_getdomaininfo:
        op->u.max_vcpus = d->max_vcpus;
        if (copy_to_guest(u_domctl, op, sizeof(*op)))
            ret = -EFAULT;
        break;
    }

    return ret;
}
