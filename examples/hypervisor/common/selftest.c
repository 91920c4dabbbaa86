/* Probes for testing the hypervisor in an emulator: each calls a hypercall the way a
 * guest would and returns a checksum of what the guest got back. The stack is
 * filled with a known pattern first, so that a hypercall that copies uninitialised
 * stack bytes to the guest gives a different (and deterministic) checksum. */
#include <hv/lib.h>
#include <public/domctl.h>
#include <public/version.h>

#define STACK_PATTERN 0xa5

long do_hypercall(u64 nr, u64 a1, u64 a2, u64 a3);

static u8 guest_page[4096] __attribute__((aligned(4096)));

noinline void dirty_stack(int pattern)
{
    u8 junk[2048];

    memset(junk, pattern, sizeof(junk));
    __asm__ volatile("" : : "r"(junk) : "memory");
}

noinline u64 guest_sum(const u8 *buf, size_t len)
{
    u64 sum = 0;
    size_t i;

    for (i = 0; i < len; i++)
        sum += buf[i];
    return sum;
}

/* XENVER_extraversion and XENVER_compile_info (17 = __HYPERVISOR_xen_version). */
u64 probe_version_leak(void)
{
    u64 sum;

    memset(guest_page, 0, sizeof(guest_page));
    dirty_stack(STACK_PATTERN);
    if (do_hypercall(17, XENVER_extraversion, (u64)guest_page, 0))
        return ~0UL;
    sum = guest_sum(guest_page, XEN_EXTRAVERSION_LEN);
    dirty_stack(STACK_PATTERN);
    if (do_hypercall(17, XENVER_compile_info, (u64)guest_page, 0))
        return ~0UL;
    return sum + guest_sum(guest_page, sizeof(struct xen_compile_info));
}

/* XEN_DOMCTL_gettscinfo on domain 0 (36 = __HYPERVISOR_domctl). */
u64 probe_domctl_leak(void)
{
    struct xen_domctl *op = (struct xen_domctl *)guest_page;

    memset(guest_page, 0, sizeof(guest_page));
    op->cmd = XEN_DOMCTL_gettscinfo;
    op->domain = 0;
    dirty_stack(STACK_PATTERN);
    if (do_hypercall(36, (u64)guest_page, 0, 0))
        return ~0UL;
    return guest_sum(guest_page, sizeof(*op));
}
