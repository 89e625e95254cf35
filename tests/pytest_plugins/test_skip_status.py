"""The skip_status plugin maps "nothing passed, nothing failed" to exit status 77 (CTest's
SKIP_RETURN_CODE for the pytest suites) and leaves every other status alone."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_suite(tmp_path, source):
    (tmp_path / "test_suite.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": HERE}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "skip_status", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("source, status", [
    ("import pytest\ndef test_a():\n    pytest.skip('no binary')\n"
     "def test_b():\n    pytest.skip('no model')\n", 77),
    ("import pytest\npytestmark = pytest.mark.skip('no device')\ndef test_a():\n    pass\n", 77),
    ("def test_a():\n    pass\n", 0),
    ("import pytest\ndef test_a():\n    pass\ndef test_b():\n    pytest.skip('x')\n", 0),
    ("def test_a():\n    assert False\n", 1),
    ("import pytest\ndef test_a():\n    assert False\ndef test_b():\n    pytest.skip('x')\n", 1),
    ("x = 1\n", 5),  # nothing collected stays pytest's 5: a failure for CTest
])
def test_exit_status(tmp_path, source, status):
    result = run_suite(tmp_path, source)
    assert result.returncode == status, result.stdout + result.stderr
    if status == 77:
        assert "every test skipped" in result.stdout
