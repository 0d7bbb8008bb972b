/* A time-of-check/time-of-use race against a tracer: one thread flips a path buffer between
 * argv[1] (allowed) and argv[2] (secret) while the main thread opens the buffer N times
 * (argv[3]); prints how many opens gave the secret file's first line "SECRET". */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buffer[4096];
static const char *paths[2];
static volatile int stop;

static void *flip(void *unused) {
    (void)unused;
    while (!stop)
        for (int i = 0; i < 2; i++) strcpy(buffer, paths[i]);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    paths[0] = argv[1];
    paths[1] = argv[2];
    strcpy(buffer, paths[0]);
    pthread_t thread;
    pthread_create(&thread, NULL, flip, NULL);
    int leaked = 0, opens = atoi(argv[3]);
    for (int i = 0; i < opens; i++) {
        int fd = open(buffer, O_RDONLY);
        if (fd < 0) continue;
        char data[16] = {0};
        if (read(fd, data, 6) == 6 && memcmp(data, "SECRET", 6) == 0) leaked++;
        close(fd);
    }
    stop = 1;
    pthread_join(thread, NULL);
    printf("%d\n", leaked);
    return 0;
}
