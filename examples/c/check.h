/*
 * check.h — the assertion helpers of the C ABI checkers (examples/c/abi_check.c, tests/c/decoder_check.c): pass/fail
 * counters, status names, and EXPECT(call, status) / CHECK(condition), which print one line per failure (every check
 * with g_verbose) and require a non-empty eq_last_error() after each error status. Include after edgequant.h.
 */
#ifndef EQ_EXAMPLES_CHECK_H
#define EQ_EXAMPLES_CHECK_H

#include <stdio.h>

static int g_pass, g_fail, g_verbose;

static void report(int ok, int line, const char* what, const char* detail)
{
    if (ok) g_pass++;
    else g_fail++;
    if (!ok || g_verbose) {
        printf("%s line %d: %s%s%s\n", ok ? "ok  " : "FAIL", line, what, detail && *detail ? " -- " : "", detail ? detail : "");
        fflush(stdout);
    }
}

static const char* status_name(int s)
{
    switch (s) {
    case EQ_OK: return "EQ_OK";
    case EQ_ERR_INVALID_ARGUMENT: return "EQ_ERR_INVALID_ARGUMENT";
    case EQ_ERR_INVALID_HANDLE: return "EQ_ERR_INVALID_HANDLE";
    case EQ_ERR_IO: return "EQ_ERR_IO";
    case EQ_ERR_FORMAT: return "EQ_ERR_FORMAT";
    case EQ_ERR_BUFFER_TOO_SMALL: return "EQ_ERR_BUFFER_TOO_SMALL";
    case EQ_ERR_INTERNAL: return "EQ_ERR_INTERNAL";
    default: return "(unknown status)";
    }
}

/* Status check: the expected status, and after an error a non-empty thread-local message. */
static void expect_status(int line, const char* what, eq_status got, eq_status want)
{
    char detail[600];
    const char* msg = eq_last_error();
    if (got != want) {
        snprintf(detail, sizeof detail, "got %s (%d), want %s; eq_last_error: %.400s", status_name(got), (int)got,
                 status_name(want), msg ? msg : "(null)");
        report(0, line, what, detail);
        return;
    }
    if (want != EQ_OK && (msg == NULL || msg[0] == '\0')) {
        report(0, line, what, "status is right but eq_last_error() is empty");
        return;
    }
    snprintf(detail, sizeof detail, "%s%s%.200s", status_name(got), want != EQ_OK ? ": " : "", want != EQ_OK ? msg : "");
    report(1, line, what, detail);
}

#define EXPECT(call, want) expect_status(__LINE__, #call, (call), (want))
#define CHECK(cond) report(!!(cond), __LINE__, #cond, NULL)

#endif
