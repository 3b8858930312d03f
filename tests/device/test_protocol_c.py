"""The firmware's C frame code (runtime_c/ports/firmware/esn_fw_frame.c), built with the host gcc
(with AddressSanitizer and UBSan where they work), agrees with the Python protocol byte for byte:
CRC, frame layout, COBS encoding, and the streaming decoder on damaged streams."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesnn.device import protocol as P
from tests.helpers.paths import ROOT

FW = ROOT / "runtime_c" / "ports" / "firmware"
CC = shutil.which("gcc") or shutil.which("cc")
pytestmark = pytest.mark.needs_cc


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    exe = tmp_path_factory.mktemp("frame") / "test_esn_fw_frame"
    base = [CC, "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{FW}", "-o", str(exe),
            str(FW / "tests" / "test_esn_fw_frame.c"), str(FW / "esn_fw_frame.c")]
    proc = subprocess.run(base[:1] + ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"] + base[1:],
                          capture_output=True, text=True)
    if proc.returncode != 0 or subprocess.run([str(exe), "selftest"], capture_output=True).returncode != 0:
        proc = subprocess.run(base, capture_output=True, text=True)  # no sanitizer runtime here
        assert proc.returncode == 0, proc.stderr
    selftest = subprocess.run([str(exe), "selftest"], capture_output=True, text=True, timeout=30)
    assert selftest.returncode == 0 and "~~~ALL TESTS PASSED~~~" in selftest.stdout, selftest.stdout + selftest.stderr
    p = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(line: str, until_dot: bool = False) -> list[str]:
        p.stdin.write(line + "\n")
        p.stdin.flush()
        out = []
        while True:
            got = p.stdout.readline()
            assert got, f"harness died on {line[:80]!r}"
            got = got.rstrip("\n")
            if not until_dot:
                return [got]
            if got == ".":
                return out
            out.append(got)
    yield ask
    p.stdin.close()
    assert p.wait(10) == 0


def payloads():
    return st.one_of(st.binary(max_size=700),
                     st.lists(st.sampled_from([b"\0", b"\1" * 253, b"\2" * 254, b"\3" * 255, b"ab"]),
                              max_size=5).map(b"".join))


@settings(max_examples=200, deadline=None)
@given(payloads())
def test_crc_matches_zlib(harness, data):
    assert harness("C " + data.hex()) == [f"{P.crc32(data):08x}"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), payloads())
def test_encoder_matches_python(harness, type_, seq, data):
    assert harness(f"E {type_} {seq} {data.hex()}") == [P.encode(type_, seq, data).hex()]


def python_events(stream: bytes) -> list[str]:
    out = []
    for ev in P.FrameReader(max_frame=1 << 16).feed(stream):
        if isinstance(ev, P.Frame):
            out.append("F " + P.build_frame(ev.type, ev.seq, ev.payload, ev.version).hex())
        elif isinstance(ev, P.Damaged):
            out.append("B")
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 255), st.integers(0, 0xFFFF), payloads()), min_size=1, max_size=4),
       st.lists(st.tuples(st.sampled_from(["drop", "dup", "flip"]), st.integers(0, 1 << 20), st.integers(1, 255)),
                max_size=4))
def test_decoder_matches_python_on_damaged_streams(harness, frames, damage):
    stream = bytearray(b"".join(P.encode(t, s, d) for t, s, d in frames))
    for kind, pos, mask in damage:
        i = pos % len(stream)
        if kind == "drop":
            del stream[i]
        elif kind == "dup":
            stream.insert(i, stream[i])
        else:
            stream[i] ^= mask
    got = harness(f"D 65536 {bytes(stream).hex()}", until_dot=True)
    # the Python reader also calls printable "ESN-..." chunks text; a damaged stream never makes one
    assert got == python_events(bytes(stream))
    sent = {P.build_frame(t, s, d).hex() for t, s, d in frames}
    assert all(line[2:] in sent for line in got if line.startswith("F ")), "decoded a frame that was not sent"


def test_decoder_bounds_an_oversized_frame(harness):
    big = P.encode(P.T_ECHO, 1, bytes(range(256)) * 4)
    small = P.encode(P.T_ECHO, 2, b"ok")
    got = harness(f"D 64 {(big + small + bytes(random.Random(3).randrange(1, 256) for _ in range(500)) + small).hex()}",
                  until_dot=True)
    assert got == ["B", "F " + P.build_frame(P.T_ECHO, 2, b"ok").hex(), "B", "F " + P.build_frame(P.T_ECHO, 2, b"ok").hex()]
