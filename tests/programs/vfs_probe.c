/* Raw filesystem calls for the virtual filesystem's tests, one command per run:
 *
 *   vfs_probe ls DIR BUFSIZE       getdents64 with a BUFSIZE-byte buffer: one name a line
 *   vfs_probe lsold DIR BUFSIZE    the same with the older getdents (struct linux_dirent)
 *                                  (either with a 4th argument "types": "NAME D_TYPE" lines)
 *   vfs_probe cat_at DIR NAME      openat(open(DIR), NAME) and print the file
 *   vfs_probe cwd [DIR]            chdir(DIR) first if given; print getcwd and /proc/self/cwd
 *   vfs_probe getcwd SIZE          getcwd with a SIZE-byte buffer: the path or the errno name
 *   vfs_probe openat2 PATH FLAGS   openat2 with open_how.flags = FLAGS (octal): "ok" or errno
 *   vfs_probe fchmod PATH          open PATH read-only, fchmod it 0644: "ok" or the errno name
 *   vfs_probe exec PATH [ARG...]   execv(PATH, {PATH, ARG...}); prints the errno name if it fails
 *   vfs_probe fifo PATH            open the FIFO PATH for reading while a child stops and
 *                                  continues us (the open restarts), then writes a line to it
 *   vfs_probe fifo_handler PATH    the same, but the child sends SIGUSR1, whose SA_RESTART handler
 *                                  runs on the stack below the blocked open (its frame lands
 *                                  where a rewritten path was written), then writes
 *   vfs_probe io PATH              open PATH read-write, then read, pread, readv, lseek64,
 *                                  lseek, fstat, write, pwrite, writev: a line each
 *   vfs_probe handle_get PATH OUT  name_to_handle_at(PATH) into the file OUT: "ok" or errno
 *   vfs_probe handle_open IN DIR FLAGS
 *                                  open_by_handle_at(open(DIR), the handle in IN, FLAGS
 *                                  (octal)); read-only: print the file, else write "x\n"
 *
 * Built 64-bit and with -m32, so the same checks cover the i386 ABI. Errors are printed as
 * errno names so that the tests do not depend on the C library's messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

struct dirent64_raw {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct dirent_old {
    unsigned long d_ino;
    unsigned long d_off;
    unsigned short d_reclen;
    char d_name[];
};

struct how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

static const char *name_of(int error) {
    switch (error) {
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case ENOSYS: return "ENOSYS";
    case EINTR: return "EINTR";
    case ENODEV: return "ENODEV";
    case EPERM: return "EPERM";
    case ESTALE: return "ESTALE";
    default: return strerror(error);
    }
}

static int fail(const char *what) {
    printf("%s: %s\n", what, name_of(errno));
    return 1;
}

static int list(const char *dir, int size, int old, int types) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return fail("open");
    char *buffer = malloc(size);
    for (;;) {
#ifdef SYS_getdents
        long n = syscall(old ? SYS_getdents : SYS_getdents64, fd, buffer, size);
#else /* asm-generic (aarch64): getdents64 only, and "old" listings fail as the kernel would */
        long n = old ? (errno = ENOSYS, -1) : syscall(SYS_getdents64, fd, buffer, size);
#endif
        if (n < 0) return fail("getdents");
        if (n == 0) break;
        for (long at = 0; at < n;) {
            if (old) {
                struct dirent_old *entry = (struct dirent_old *)(buffer + at);
                if (types)
                    printf("%s %d\n", entry->d_name, buffer[at + entry->d_reclen - 1]);
                else
                    printf("%s\n", entry->d_name);
                at += entry->d_reclen;
            } else {
                struct dirent64_raw *entry = (struct dirent64_raw *)(buffer + at);
                if (types)
                    printf("%s %d\n", entry->d_name, entry->d_type);
                else
                    printf("%s\n", entry->d_name);
                at += entry->d_reclen;
            }
        }
    }
    return 0;
}

static volatile int usr1_seen;

static void on_usr1(int sig) {
    volatile char scribble[4096]; /* a deep frame: what was below the stack pointer is gone */
    for (size_t i = 0; i < sizeof scribble; i++) scribble[i] = (char)(i ^ sig);
    usr1_seen += scribble[sig];
}

static int io(const char *path) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return fail("open");
    char a[16], b[4], c[4];
    long n = read(fd, a, 6);
    printf("read %ld %.*s\n", n, (int)(n > 0 ? n : 0), a);
    n = pread(fd, a, 4, 100);
    printf("pread %ld %.*s\n", n, (int)(n > 0 ? n : 0), a);
    struct iovec in[2] = {{b, 3}, {c, 4}};
    n = readv(fd, in, 2);
    printf("readv %ld %.3s|%.4s\n", n, b, c);
    printf("lseek64 %lld\n", (long long)lseek64(fd, -2, SEEK_END));
    printf("lseek %ld\n", syscall(SYS_lseek, fd, 1, SEEK_CUR));
    struct stat64 st, by_path;
    if (fstat64(fd, &st) || stat64(path, &by_path)) return fail("fstat64");
    printf("fstat %lld %d %ld\n", (long long)st.st_size, st.st_ino == by_path.st_ino,
           (long)st.st_nlink);
#ifdef __x86_64__
    struct stat raw; /* glibc's struct stat is the kernel's on x86-64 */
    if (syscall(SYS_fstat, fd, &raw)) return fail("fstat");
    printf("raw fstat %lld\n", (long long)raw.st_size);
#else
    printf("raw fstat %lld\n", (long long)st.st_size);
#endif
    printf("write %ld\n", (long)write(fd, "abc", 3));
    printf("pwrite %ld\n", (long)pwrite(fd, "xy", 2, 40));
    struct iovec out[2] = {{"12", 2}, {"345", 3}};
    printf("writev %ld\n", (long)writev(fd, out, 2));
    printf("mmap %s\n", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED
                             ? name_of(errno) : "mapped");
    return 0;
}

static int handle_get(const char *path, const char *out) {
    struct file_handle *handle = malloc(sizeof *handle + MAX_HANDLE_SZ);
    handle->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, path, handle, &mount_id, 0) != 0)
        return fail("name_to_handle_at");
    FILE *file = fopen(out, "wb");
    if (file == NULL) return fail("fopen");
    fwrite(handle, sizeof *handle + handle->handle_bytes, 1, file);
    fclose(file);
    printf("ok\n");
    return 0;
}

static int handle_open(const char *in, const char *directory, int flags) {
    char stored[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    FILE *file = fopen(in, "rb");
    if (file == NULL) return fail("fopen");
    size_t size = fread(stored, 1, sizeof stored, file);
    fclose(file);
    if (size < sizeof(struct file_handle)) return 2;
    int mount_fd = open(directory, O_RDONLY | O_DIRECTORY);
    if (mount_fd < 0) return fail("open");
    int fd = open_by_handle_at(mount_fd, (struct file_handle *)stored, flags);
    if (fd < 0) return fail("open_by_handle_at");
    if ((flags & O_ACCMODE) != O_RDONLY) {
        if (write(fd, "x\n", 2) != 2) return fail("write");
        printf("wrote\n");
        return 0;
    }
    char buffer[256];
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) return fail("read");
    fwrite(buffer, 1, n, stdout);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) return 2;
    const char *command = argv[1];
    if (!strcmp(command, "exec") && argc >= 3) {
        execv(argv[2], &argv[2]);
        return fail("exec");
    }
    if ((!strcmp(command, "ls") || !strcmp(command, "lsold")) && (argc == 4 || argc == 5))
        return list(argv[2], atoi(argv[3]), !strcmp(command, "lsold"),
                    argc == 5 && !strcmp(argv[4], "types"));
    if (!strcmp(command, "cat_at") && argc == 4) {
        int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
        if (dir < 0) return fail("open");
        int fd = openat(dir, argv[3], O_RDONLY);
        if (fd < 0) return fail("openat");
        char buffer[4096];
        ssize_t n;
        while ((n = read(fd, buffer, sizeof buffer)) > 0) fwrite(buffer, 1, n, stdout);
        return 0;
    }
    if (!strcmp(command, "cwd")) {
        if (argc == 3 && chdir(argv[2]) != 0) return fail("chdir");
        char buffer[4096];
        if (syscall(SYS_getcwd, buffer, sizeof buffer) < 0) return fail("getcwd");
        printf("%s\n", buffer);
        ssize_t n = readlink("/proc/self/cwd", buffer, sizeof buffer - 1);
        if (n < 0) return fail("readlink");
        buffer[n] = 0;
        printf("%s\n", buffer);
        return 0;
    }
    if (!strcmp(command, "getcwd") && argc == 3) {
        char buffer[4096];
        long n = syscall(SYS_getcwd, buffer, atoi(argv[2]));
        if (n < 0) return fail("getcwd");
        printf("%ld %s\n", n, buffer);
        return 0;
    }
    if (!strcmp(command, "openat2") && argc == 4) {
        struct how how = {strtoul(argv[3], NULL, 8), 0, 0};
        if (how.flags & O_CREAT) how.mode = 0644; /* openat2 refuses a mode without it */
        long fd = syscall(SYS_openat2, AT_FDCWD, argv[2], &how, sizeof how);
        if (fd < 0) return fail("openat2");
        printf("ok\n");
        return 0;
    }
    if (!strcmp(command, "fchmod") && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return fail("open");
        if (fchmod(fd, 0644) != 0) return fail("fchmod");
        printf("ok\n");
        return 0;
    }
    if (!strcmp(command, "io") && argc == 3) return io(argv[2]);
    if (!strcmp(command, "handle_get") && argc == 4) return handle_get(argv[2], argv[3]);
    if (!strcmp(command, "handle_open") && argc == 5)
        return handle_open(argv[2], argv[3], (int)strtol(argv[4], NULL, 8));
    if ((!strcmp(command, "fifo") || !strcmp(command, "fifo_handler")) && argc == 3) {
        int handler = !strcmp(command, "fifo_handler");
        if (handler) {
            struct sigaction action;
            memset(&action, 0, sizeof action);
            action.sa_handler = on_usr1;
            action.sa_flags = SA_RESTART;
            sigaction(SIGUSR1, &action, NULL);
        }
        pid_t parent = getpid();
        pid_t child = fork();
        if (child == 0) {
            usleep(200000); /* by now the parent is blocked in open */
            if (handler) {
                kill(parent, SIGUSR1);
                usleep(100000);
                kill(parent, SIGUSR1);
            } else {
                kill(parent, SIGSTOP);
                usleep(100000);
                kill(parent, SIGCONT);
            }
            int fd = open(argv[2], O_WRONLY);
            if (fd < 0) _exit(1);
            if (write(fd, "through the fifo\n", 17) != 17) _exit(1);
            _exit(0);
        }
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return fail("open");
        char buffer[64];
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n > 0) fwrite(buffer, 1, n, stdout);
        int status;
        waitpid(child, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    return 2;
}
