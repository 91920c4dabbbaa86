/* Helpers every file of the example hypervisor uses. */
#ifndef HV_LIB_H
#define HV_LIB_H

#include <hv/types.h>

/* Code and data only needed while booting; a real hypervisor frees them after boot. */
#define __init __attribute__((__section__(".init.text")))
#define __initdata __attribute__((__section__(".init.data")))
#define noinline __attribute__((__noinline__, __noclone__))
#define unlikely(x) __builtin_expect(!!(x), 0)

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
size_t strlen(const char *s);
size_t strlcpy(char *dst, const char *src, size_t size);

/* Console ring buffer. */
void hv_log(const char *msg);
void hv_log_num(const char *msg, u64 value);

/* Assertion failures record the file and line, like Xen's BUG frames. */
void assert_failed(const char *file, int line, const char *expr);
#define ASSERT(p)                                                  \
    do {                                                           \
        if (unlikely(!(p)))                                        \
            assert_failed(__FILE__, __LINE__, #p);                 \
    } while (0)

/* Guest memory is addressed directly in this example (no paging). */
long copy_to_guest(u64 guest_addr, const void *src, size_t len);
long copy_from_guest(void *dst, u64 guest_addr, size_t len);

#endif
