/* The seccomp user-notification side: the notification ioctls as module functions (the twins
 * of kernel/unotify.py's ctypes ones) and the supervisor's wait loop, the C twin of
 * NotifySupervisor._loop_python in engine/notify.py. */
#ifndef SYSEMU_CSRC_NOTIFY_LOOP_H
#define SYSEMU_CSRC_NOTIFY_LOOP_H

#include "pyutil.h"

/* notif_recv, notif_send, notif_exchange and notif_serve, for the module. */
extern PyMethodDef notify_loop_methods[];

/* 0, or -1 with an exception set. */
int notify_loop_init(void);

#endif
