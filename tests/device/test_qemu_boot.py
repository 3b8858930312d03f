"""QEMU's boot on a loaded machine (issue 16, item 8): the boot timeout is charged only with the time QEMU
could run (its threads' run-queue wait moves the deadline out, at most BOOT_STARVED_MAX_FACTOR x the
timeout), and a boot that times out is retried once with a fresh QEMU; any other failure is not retried.
These check the logic without loading the machine; tests/device/test_qemu.py and
tests/cli/test_cli_consistency.py boot real firmware (the silent-port case: still a BootTimeout in time).
"""

from __future__ import annotations

import os
import time

import pytest

from edgesnn.board import get_board
from edgesnn.device import qemu
from edgesnn.device.qemu import BootTimeout, QemuTarget
from edgesnn.errors import DeviceError


def _target(tmp_path, boot_timeout=2.0) -> QemuTarget:
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    return QemuTarget(get_board("qemu-mps2-an386"), elf, boot_timeout=boot_timeout)


def test_a_boot_that_times_out_is_retried_once(tmp_path, monkeypatch):
    calls = []

    def once(self):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise self._boot_timeout("no ready line on its serial port yet (saw: nothing)")
        return "link"

    monkeypatch.setattr(QemuTarget, "_start_once", once)
    assert _target(tmp_path).start() == "link" and len(calls) == 2


def test_two_timeouts_are_one_boot_timeout_that_says_so(tmp_path, monkeypatch):
    calls = []

    def once(self):
        calls.append(1)
        raise self._boot_timeout("no ready line on its serial port yet (saw: nothing)")

    monkeypatch.setattr(QemuTarget, "_start_once", once)
    with pytest.raises(BootTimeout) as e:
        _target(tmp_path, 2.5).start()
    assert str(e.value) == ("board qemu-mps2-an386: the firmware did not boot under QEMU (mps2-an386) within the boot "
                            "timeout of 2.5 s: no ready line on its serial port yet (saw: nothing); give it longer "
                            "with --boot-timeout S (default 20 s); tried 2 times, each with a fresh QEMU")
    assert len(calls) == qemu.BOOT_TRIES == 2


def test_other_boot_failures_are_not_retried(tmp_path, monkeypatch):
    calls = []

    def once(self):
        calls.append(1)
        raise DeviceError("qemu-system-arm exited (1) before listening: bad machine")

    monkeypatch.setattr(QemuTarget, "_start_once", once)
    with pytest.raises(DeviceError, match=r"^qemu-system-arm exited \(1\) before listening: bad machine$"):
        _target(tmp_path).start()
    assert calls == [1]


class _Proc:
    pid = 12345


def test_time_spent_waiting_for_a_cpu_extends_the_boot(tmp_path, monkeypatch):
    t = _target(tmp_path, boot_timeout=2.0)
    t.proc = _Proc()
    asked = []
    starved = {"s": 0.0}

    def wait(pid):
        asked.append(pid)
        return starved["s"]

    monkeypatch.setattr(qemu, "runqueue_wait_s", wait)
    t._t0 = time.monotonic()
    assert 1.9 < t._boot_left() <= 2.0 and asked == []   # within the plain timeout the kernel is not asked
    t._t0 = time.monotonic() - 3.0                         # 3 s gone: 1 s over
    assert t._boot_left() < -0.9 and asked == [12345]      # not starved: timed out
    starved["s"] = 1.5                                     # QEMU waited 1.5 s for a CPU: 0.5 s left
    assert 0.4 < t._boot_left() <= 0.5
    starved["s"] = 100.0                                   # the extension is capped at 3 x the timeout
    t._t0 = time.monotonic() - 9.0
    assert -1.1 < t._boot_left() <= -1.0


def test_runqueue_wait_reads_the_kernel_or_says_zero():
    mine = qemu.runqueue_wait_s(os.getpid())
    assert isinstance(mine, float) and mine >= 0.0
    assert qemu.runqueue_wait_s(2 ** 22 + 12345) == 0.0   # no such process
