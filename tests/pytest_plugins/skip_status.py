"""pytest plugin: a run in which no test passed and none failed exits 77.

CTest maps 77 to "Skipped" (SKIP_RETURN_CODE on the pytest suites' CTest tests:
tests/cli, tests/integration), so a suite whose every test skipped (no binary, no model, no device)
shows as Skipped, never as Passed. pytest's own non-zero statuses stay as they are: 1 a test
failed, 5 no test was collected (a broken path or filter), both failures for CTest.

Load it with `-p skip_status` and tests/pytest_plugins on PYTHONPATH.
"""

EXIT_ALL_SKIPPED = 77

_passed = 0


def pytest_runtest_logreport(report):
    global _passed
    # A test passes in its "call" phase; xfail/xpass and skips do not count.
    if report.when == "call" and report.passed and not hasattr(report, "wasxfail"):
        _passed += 1


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and _passed == 0:
        session.exitstatus = EXIT_ALL_SKIPPED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus == 0 and _passed == 0:
        terminalreporter.write_line(
            f"skip_status: no test passed, every test skipped: exit status {EXIT_ALL_SKIPPED}")
