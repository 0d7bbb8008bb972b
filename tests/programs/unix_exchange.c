/* A Unix-socket exchange with itself, one line per step ("connect 0", "connect 2"... with 0
 * or the errno, then "received hi"). Usage: unix_exchange LISTEN_PATH CONNECT_PATH. Built
 * 64-bit and 32-bit: a 32-bit C library makes every one of these calls through socketcall
 * (socket, bind, listen, connect, send, accept, recv). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int report(const char *what, int result) {
    printf("%s %d\n", what, result < 0 ? errno : 0);
    fflush(stdout);
    return result;
}

static struct sockaddr_un address(const char *path) {
    struct sockaddr_un name = {.sun_family = AF_UNIX};
    strncpy(name.sun_path, path, sizeof name.sun_path - 1);
    return name;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    unlink(argv[1]);
    struct sockaddr_un listening = address(argv[1]), wanted = address(argv[2]);
    int server = report("socket", socket(AF_UNIX, SOCK_STREAM, 0));
    report("bind", bind(server, (struct sockaddr *)&listening, sizeof listening));
    report("listen", listen(server, 1));
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    if (report("connect", connect(client, (struct sockaddr *)&wanted, sizeof wanted)) < 0) return 0;
    report("send", (int)send(client, "hi", 2, 0));
    int accepted = report("accept", accept(server, NULL, NULL));
    char buffer[8] = {0};
    if (report("recv", (int)recv(accepted, buffer, sizeof buffer - 1, 0)) >= 0)
        printf("received %s\n", buffer);
    unlink(argv[1]);
    return 0;
}
