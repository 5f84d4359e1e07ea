# Shared by the C ABI test scripts (run_c_tests.sh, run_decoder_tests.sh): pass/fail counters and check helpers.
# Source it after setting TMP (a scratch folder); call finish LABEL at the end.
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && sed 's/^/      /' "$2" | tail -n 30; }

# finish LABEL: the totals line ("LABEL: N passed, M failed"); exit status 0 only without failures.
finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# check NAME CMD...: passes when CMD exits 0; its output goes to $TMP/log.
check() {
    local name="$1"; shift
    if "$@" >"$TMP/log" 2>&1; then pass "$name"; else fail "$name (exit $?)" "$TMP/log"; fi
}

# same_output NAME FILE_A FILE_B: byte-identical files.
same_output() {
    if cmp -s "$2" "$3"; then pass "$1"
    else
        diff "$2" "$3" >"$TMP/diff" 2>&1
        fail "$1" "$TMP/diff"
    fi
}
