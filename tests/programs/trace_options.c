/* Calls for the trace's display options (-P, --trace-fds, -yy, -e signal=, -X, -e raw=, -v):
 * files opened by name and used through their fds, a TCP connection over loopback, a Unix
 * socket pair, a signal caught, and a stat. Usage: trace_options PATH (a file it creates). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void caught(int signal) { (void)signal; }

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    int file = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDWR);
    if (file < 0 || null < 0)
        return 1;
    struct stat info;
    fstat(file, &info);
    fstat(null, &info);
    if (write(file, "abc", 3) != 3 || write(null, "abc", 3) != 3)
        return 1;
    struct pollfd ready = {.fd = null, .events = POLLOUT};
    poll(&ready, 1, 0);
    int copy = dup(file);
    access(argv[1], W_OK);
    access("/dev/null", R_OK);

    /* A listening socket, a client connected to it and the accepted end. */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 1))
        return 1;
    getsockname(listener, (struct sockaddr *)&address, &length);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, (struct sockaddr *)&address, sizeof address))
        return 1;
    int server = accept(listener, NULL, NULL);
    char byte = 'x';
    if (send(client, &byte, 1, 0) != 1 || recv(server, &byte, 1, 0) != 1)
        return 1;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) || write(pair[0], &byte, 1) != 1)
        return 1;
    if (read(pair[1], &byte, 1) != 1)
        return 1;

    signal(SIGUSR1, caught);
    raise(SIGUSR1);
    signal(SIGUSR2, caught);
    raise(SIGUSR2);

    close(pair[0]);
    close(pair[1]);
    close(server);
    close(client);
    close(listener);
    close(copy);
    close(null);
    close(file);
    unlink(argv[1]);
    return 0;
}
