/* The few string routines the example hypervisor needs (no libc). */
#include <hv/lib.h>

void *memset(void *dst, int c, size_t n)
{
    u8 *d = dst;

    while (n--)
        *d++ = (u8)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    u8 *d = dst;
    const u8 *s = src;

    while (n--)
        *d++ = *s++;
    return dst;
}

size_t strlen(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

/* Copies at most size-1 bytes and a NUL; bytes after the NUL are left untouched. */
size_t strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size) {
        size_t n = len >= size ? size - 1 : len;

        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}
