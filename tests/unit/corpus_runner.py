"""Run bad-input cases through the `u7s` program in one process; print each outcome as JSON.

The test starts this as a child with a memory limit and reads its peak RSS; running
every case in one process keeps the corpus fast, while each case still goes through
the real command line (argument parsing, config, the task, the error at the CLI edge).
Input on stdin: [{"id", "argv", "env", "cwd"}]. Output: {id: {"code", "stderr", "seconds", "cpu_seconds"}}.
"""

import contextlib
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from u7s import __version__  # noqa: E402
from u7s.program import U7sConfig, U7sProgram  # noqa: E402
from u7s.tasks import ns  # noqa: E402


def run(case: dict) -> dict:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(case["env"])
    os.chdir(case["cwd"])
    err, out = io.StringIO(), io.StringIO()
    start, cpu_start = time.monotonic(), time.process_time()
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            program = U7sProgram(namespace=ns, version=__version__, name="u7s", binary="u7s",
                                 config_class=U7sConfig)
            program.run(["u7s", *case["argv"]], exit=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return {"code": code, "stderr": err.getvalue(), "stdout": out.getvalue(),
            "seconds": time.monotonic() - start, "cpu_seconds": time.process_time() - cpu_start}


def main() -> None:
    cases = json.load(sys.stdin)
    json.dump({c["id"]: run(c) for c in cases}, sys.stdout)


if __name__ == "__main__":
    main()
