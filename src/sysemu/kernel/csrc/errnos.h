/* The kernel's errno facts the C loops need, as sysemu.abi.errnos states them (a structure test
 * holds the two to the same numbers): which return values are errors, and which are the
 * -ERESTART* values that a signal leaves at a syscall-exit stop before the call is made again.
 * 515 (ENOIOCTLCMD) lies among them but is no restart: ioctl turns it into ENOTTY. */
#ifndef SYSEMU_ERRNOS_H
#define SYSEMU_ERRNOS_H

#define SYSEMU_MAX_ERRNO 4095
#define SYSEMU_ERESTARTSYS 512
#define SYSEMU_ERESTARTNOINTR 513
#define SYSEMU_ERESTARTNOHAND 514
#define SYSEMU_ERESTART_RESTARTBLOCK 516

/* Whether a raw return value is -errno (the kernel's IS_ERR_VALUE). */
static inline int is_error_return(long long value) {
    return value >= -SYSEMU_MAX_ERRNO && value < 0;
}

/* Whether a raw return value is one of the -ERESTART* values. */
static inline int is_restart_return(long long value) {
    return value == -SYSEMU_ERESTARTSYS || value == -SYSEMU_ERESTARTNOINTR ||
           value == -SYSEMU_ERESTARTNOHAND || value == -SYSEMU_ERESTART_RESTARTBLOCK;
}

#endif
