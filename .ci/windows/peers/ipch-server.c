/*
 * A request/response server on a message-type named pipe, in the style of
 * ipc.h: each request and each answer is one message holding one
 * NUL-terminated string, read into a 512-byte buffer. Every client gets a
 * thread; each request is answered before the next is read.
 *
 *   ipch-server.exe PIPE_NAME
 *
 * Prints "ready" once the pipe exists, then serves until killed. Answers:
 *   "long:N"   -> N bytes of 'x' (for answers longer than a peer's buffer)
 *   anything   -> "re:" and the request
 * A request that does not fit the buffer (ERROR_MORE_DATA) or holds no NUL
 * is reported on stderr and its connection closed.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFSIZE 512

static DWORD WINAPI serve(LPVOID arg)
{
    HANDLE pipe = (HANDLE)arg;
    char request[BUFSIZE];
    for (;;) {
        DWORD got = 0;
        if (!ReadFile(pipe, request, BUFSIZE, &got, NULL)) {
            DWORD err = GetLastError();
            if (err == ERROR_MORE_DATA)
                fprintf(stderr, "ipch-server: a request longer than %d bytes\n", BUFSIZE);
            else if (err != ERROR_BROKEN_PIPE)
                fprintf(stderr, "ipch-server: ReadFile failed: %lu\n", err);
            break;
        }
        if (got == 0 || request[got - 1] != '\0') {
            fprintf(stderr, "ipch-server: a request of %lu bytes without its NUL\n", got);
            break;
        }
        char *answer;
        size_t len;
        if (strncmp(request, "long:", 5) == 0) {
            len = strtoul(request + 5, NULL, 10);
            answer = malloc(len + 1);
            if (answer == NULL)
                break;
            memset(answer, 'x', len);
            answer[len] = '\0';
        } else {
            len = strlen(request) + 3;
            answer = malloc(len + 1);
            if (answer == NULL)
                break;
            strcpy(answer, "re:");
            strcat(answer, request);
        }
        DWORD wrote = 0;
        BOOL ok = WriteFile(pipe, answer, (DWORD)(len + 1), &wrote, NULL);
        free(answer);
        if (!ok || wrote != len + 1) {
            fprintf(stderr, "ipch-server: WriteFile failed: %lu\n", GetLastError());
            break;
        }
    }
    FlushFileBuffers(pipe);
    DisconnectNamedPipe(pipe);
    CloseHandle(pipe);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ipch-server PIPE_NAME\n");
        return 2;
    }
    for (int first = 1;; first = 0) {
        HANDLE pipe = CreateNamedPipeA(argv[1], PIPE_ACCESS_DUPLEX,
                                       PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                       PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, 0, NULL);
        if (pipe == INVALID_HANDLE_VALUE) {
            fprintf(stderr, "ipch-server: CreateNamedPipe failed: %lu\n", GetLastError());
            return 1;
        }
        if (first) {
            printf("ready\n");
            fflush(stdout);
        }
        if (!ConnectNamedPipe(pipe, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) {
            CloseHandle(pipe);
            continue;
        }
        HANDLE thread = CreateThread(NULL, 0, serve, pipe, 0, NULL);
        if (thread == NULL) {
            fprintf(stderr, "ipch-server: CreateThread failed: %lu\n", GetLastError());
            CloseHandle(pipe);
            continue;
        }
        CloseHandle(thread);
    }
}
