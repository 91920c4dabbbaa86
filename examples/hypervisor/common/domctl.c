/* The domain control hypercall: the toolstack's view of domains. */
#include <hv/lib.h>
#include <hv/sched.h>
#include <public/domctl.h>

static const char *const domctl_names[XEN_DOMCTL_NR] = {
    [XEN_DOMCTL_getdomaininfo] = "getdomaininfo",
    [XEN_DOMCTL_pausedomain] = "pausedomain",
    [XEN_DOMCTL_unpausedomain] = "unpausedomain",
    [XEN_DOMCTL_max_vcpus] = "max_vcpus",
    [XEN_DOMCTL_gettscinfo] = "gettscinfo",
    [XEN_DOMCTL_settscinfo] = "settscinfo",
};

static u32 paused_mask;

/* Commands handled here rather than in arch code. */
static noinline int check_args(u32 cmd, u32 domid)
{
    if (cmd >= XEN_DOMCTL_NR)
        return -ENOSYS;
    if (domid >= MAX_DOMAINS)
        return -ENOENT;
    return 0;
}

long do_domctl(u64 u_domctl)
{
    struct xen_domctl op;
    struct domain *d;
    long ret;

    if (copy_from_guest(&op, u_domctl, sizeof(op)))
        return -EFAULT;

    ret = check_args(op.cmd, op.domain);
    if (ret)
        return ret;

    d = domain_lookup(op.domain);
    if (!d)
        return -ENOENT;
    ASSERT(d->domain_id == op.domain);

    hv_log(domctl_names[op.cmd]);

    switch (op.cmd) {
    case XEN_DOMCTL_pausedomain:
        paused_mask |= 1u << op.domain;
        return 0;
    case XEN_DOMCTL_unpausedomain:
        paused_mask &= ~(1u << op.domain);
        return 0;
    case XEN_DOMCTL_max_vcpus:
        d->max_vcpus = op.u.max_vcpus;
        return 0;
    default:
        ret = arch_do_domctl(&op, d, u_domctl);
        break;
    }

    ASSERT(ret <= 0);
    return ret;
}

int domain_is_paused(u32 domid)
{
    ASSERT(domid < MAX_DOMAINS);
    return (paused_mask >> domid) & 1;
}
