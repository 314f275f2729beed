/* Stands in for apt running a configured hook: `apt HOOK` runs `sh -c HOOK` as a child, as
 * apt does for APT::Update::Pre-Invoke and friends, and waits for it. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: apt HOOK\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", argv[1], (char *)0);
        _exit(127);
    }
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    return 0;
}
