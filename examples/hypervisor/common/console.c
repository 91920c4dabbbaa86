/* A console ring buffer: the hypervisor's log. */
#include <hv/lib.h>

#define CONSOLE_RING_SIZE 4096

char console_ring[CONSOLE_RING_SIZE];
static u32 console_pos;
u32 console_lines;

static const char hex_digits[] = "0123456789abcdef";

static void ring_put(char c)
{
    console_ring[console_pos % CONSOLE_RING_SIZE] = c;
    console_pos++;
}

void hv_log(const char *msg)
{
    while (*msg)
        ring_put(*msg++);
    ring_put('\n');
    console_lines++;
}

void hv_log_num(const char *msg, u64 value)
{
    int shift;

    while (*msg)
        ring_put(*msg++);
    ring_put(' ');
    ring_put('0');
    ring_put('x');
    for (shift = 60; shift >= 0; shift -= 4)
        ring_put(hex_digits[(value >> shift) & 0xf]);
    ring_put('\n');
    console_lines++;
}

void assert_failed(const char *file, int line, const char *expr)
{
    hv_log("Assertion failed:");
    hv_log(expr);
    hv_log_num(file, (u64)line);
    __builtin_trap();
}
