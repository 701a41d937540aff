/*
 * A client in the style of ipc.h: opens a named pipe with
 * GENERIC_READ | GENERIC_WRITE, reads it in message mode, and makes calls
 * one at a time: a request is one message holding a NUL-terminated string,
 * its answer one message read into a 512-byte buffer. THREADS threads call
 * at once, each on its own connection, CALLS times each, and check that
 * every answer is "re:" and its request.
 *
 *   ipch-client.exe PIPE_NAME THREADS CALLS
 *
 * Prints "answered N of N" and exits 0 when every answer matched; prints
 * each failure on stderr and exits 1 otherwise.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFSIZE 512

static const char *pipe_name;
static int calls;
static volatile LONG answered;
static volatile LONG failed;

static void fail(int thread, const char *what, DWORD detail)
{
    fprintf(stderr, "ipch-client: thread %d: %s (%lu)\n", thread, what, detail);
    InterlockedIncrement(&failed);
}

static HANDLE open_pipe(void)
{
    for (;;) {
        HANDLE pipe = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                                  OPEN_EXISTING, 0, NULL);
        if (pipe != INVALID_HANDLE_VALUE || GetLastError() != ERROR_PIPE_BUSY)
            return pipe;
        if (!WaitNamedPipeA(pipe_name, 5000))
            return INVALID_HANDLE_VALUE;
    }
}

static DWORD WINAPI client(LPVOID arg)
{
    int thread = (int)(INT_PTR)arg;
    HANDLE pipe = open_pipe();
    if (pipe == INVALID_HANDLE_VALUE) {
        fail(thread, "cannot open the pipe", GetLastError());
        return 0;
    }
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (!SetNamedPipeHandleState(pipe, &mode, NULL, NULL)) {
        fail(thread, "cannot read in message mode", GetLastError());
        CloseHandle(pipe);
        return 0;
    }
    for (int i = 0; i < calls; i++) {
        char request[64], expected[80], answer[BUFSIZE];
        snprintf(request, sizeof request, "thread %d call %d", thread, i);
        snprintf(expected, sizeof expected, "re:%s", request);
        DWORD wrote = 0, got = 0;
        DWORD len = (DWORD)strlen(request) + 1;
        if (!WriteFile(pipe, request, len, &wrote, NULL) || wrote != len) {
            fail(thread, "WriteFile failed", GetLastError());
            break;
        }
        if (!ReadFile(pipe, answer, BUFSIZE, &got, NULL)) {
            fail(thread, "ReadFile failed", GetLastError());
            break;
        }
        if (got == 0 || answer[got - 1] != '\0' || strcmp(answer, expected) != 0) {
            fprintf(stderr, "ipch-client: thread %d: asked \"%s\", answered \"%.*s\"\n",
                    thread, request, (int)got, answer);
            InterlockedIncrement(&failed);
            continue;
        }
        InterlockedIncrement(&answered);
    }
    CloseHandle(pipe);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ipch-client PIPE_NAME THREADS CALLS\n");
        return 2;
    }
    pipe_name = argv[1];
    int threads = atoi(argv[2]);
    calls = atoi(argv[3]);
    if (threads < 1 || threads > 64 || calls < 0) {
        fprintf(stderr, "ipch-client: THREADS is 1 to 64, CALLS at least 0\n");
        return 2;
    }
    HANDLE handles[64];
    for (int t = 0; t < threads; t++) {
        handles[t] = CreateThread(NULL, 0, client, (LPVOID)(INT_PTR)t, 0, NULL);
        if (handles[t] == NULL) {
            fprintf(stderr, "ipch-client: CreateThread failed: %lu\n", GetLastError());
            return 1;
        }
    }
    WaitForMultipleObjects((DWORD)threads, handles, TRUE, INFINITE);
    printf("answered %ld of %d\n", answered, threads * calls);
    return failed == 0 && answered == threads * calls ? 0 : 1;
}
