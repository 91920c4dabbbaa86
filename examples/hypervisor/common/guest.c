/* Guest memory access. The example runs without paging: a guest address is a
 * hypervisor address, and 0 is never valid. */
#include <hv/lib.h>

long copy_to_guest(u64 guest_addr, const void *src, size_t len)
{
    if (!guest_addr)
        return -EFAULT;
    memcpy((void *)guest_addr, src, len);
    return 0;
}

long copy_from_guest(void *dst, u64 guest_addr, size_t len)
{
    if (!guest_addr)
        return -EFAULT;
    memcpy(dst, (const void *)guest_addr, len);
    return 0;
}
