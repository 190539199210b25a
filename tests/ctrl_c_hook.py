"""Ctrl-C pressed while the MIP engine runs: ``press_during(name, presses)`` wraps
``assignment.run_cpsat`` or ``assignment.run_highs`` so that, once the engine starts (HiGHS: with
integer variables), SIGINT reaches this process ``presses`` times, 1 s apart from 1 s on.
Used in-process by test_ctrl_c.py and in its CLI subprocesses."""

from __future__ import annotations

import os
import signal
import threading

from territory_opt.solvers import assignment


def press_during(name: str, presses: int) -> None:
    real = getattr(assignment, name)

    def engine(*args, **kwargs):
        if name == "run_cpsat" or kwargs.get("integer"):
            for press in range(presses):
                threading.Timer(1.0 + press, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        return real(*args, **kwargs)

    setattr(assignment, name, engine)
