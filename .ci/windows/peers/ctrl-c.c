/*
 * Sends Ctrl-C to a console process, as pressing it in its console would:
 * attaches to the console of process PID and raises CTRL_C_EVENT there,
 * ignoring it itself. The target must have a console of its own (started
 * with CREATE_NEW_CONSOLE or CREATE_NO_WINDOW), or every process sharing
 * the caller's console would get it too.
 *
 *   ctrl-c.exe PID
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ctrl-c PID\n");
        return 2;
    }
    DWORD pid = (DWORD)strtoul(argv[1], NULL, 10);
    FreeConsole();
    if (!AttachConsole(pid)) {
        fprintf(stderr, "ctrl-c: cannot attach to the console of %lu: %lu\n", pid, GetLastError());
        return 1;
    }
    SetConsoleCtrlHandler(NULL, TRUE);
    if (!GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0)) {
        fprintf(stderr, "ctrl-c: GenerateConsoleCtrlEvent failed: %lu\n", GetLastError());
        return 1;
    }
    return 0;
}
