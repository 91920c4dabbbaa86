/* Fixed-width types for a freestanding build (no libc headers). */
#ifndef HV_TYPES_H
#define HV_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed int s32;
typedef signed long s64;
typedef unsigned long size_t;

#define NULL ((void *)0)

#define EPERM 1
#define ENOENT 2
#define EFAULT 14
#define EINVAL 22
#define ENOSYS 38

#endif
