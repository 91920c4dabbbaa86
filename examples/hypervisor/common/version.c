/* The version hypercall. */
#include <hv/lib.h>
#include <public/version.h>

#define HV_MAJOR 4
#define HV_MINOR 7

static const char hv_extraversion[] = "-example";
static const char hv_compiler[] = "gcc (freestanding)";
static const char hv_compile_by[] = "builder";
static const char hv_compile_domain[] = "example.invalid";
static const char hv_compile_date[] = "Thu Jan  1 00:00:00 UTC 1970";
static const char hv_capabilities[] = "xen-3.0-x86_64 hvm-3.0-x86_32";

u32 arch_get_features(void);

/* Sub-ops that write a buffer need one. */
static noinline int check_args(int cmd, u64 arg)
{
    if (cmd < 0 || cmd > XENVER_pagesize)
        return -EINVAL;
    if (cmd != XENVER_version && cmd != XENVER_pagesize && !arg)
        return -EFAULT;
    return 0;
}

long do_xen_version(int cmd, u64 arg)
{
    int rc = check_args(cmd, arg);

    if (rc)
        return rc;

    switch (cmd) {
    case XENVER_version:
        return (HV_MAJOR << 16) | HV_MINOR;

    case XENVER_extraversion: {
        char extraversion[XEN_EXTRAVERSION_LEN];

        strlcpy(extraversion, hv_extraversion, sizeof(extraversion));
        if (copy_to_guest(arg, extraversion, sizeof(extraversion)))
            return -EFAULT;
        return 0;
    }

    case XENVER_compile_info: {
        struct xen_compile_info info;

        strlcpy(info.compiler, hv_compiler, sizeof(info.compiler));
        strlcpy(info.compile_by, hv_compile_by, sizeof(info.compile_by));
        strlcpy(info.compile_domain, hv_compile_domain, sizeof(info.compile_domain));
        strlcpy(info.compile_date, hv_compile_date, sizeof(info.compile_date));
        if (copy_to_guest(arg, &info, sizeof(info)))
            return -EFAULT;
        return 0;
    }

    case XENVER_capabilities:
        return copy_to_guest(arg, hv_capabilities, sizeof(hv_capabilities));

    case XENVER_changeset:
        return copy_to_guest(arg, "unavailable", 12);

    case XENVER_platform_parameters: {
        struct xen_platform_parameters params = { .virt_start = 0xffff800000000000UL };

        return copy_to_guest(arg, &params, sizeof(params));
    }

    case XENVER_get_features: {
        struct xen_feature_info fi;

        if (copy_from_guest(&fi, arg, sizeof(fi)))
            return -EFAULT;
        fi.submap = fi.submap_idx == 0 ? arch_get_features() : 0;
        return copy_to_guest(arg, &fi, sizeof(fi));
    }

    case XENVER_pagesize:
        return 4096;
    }

    return -ENOSYS;
}
