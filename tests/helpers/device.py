"""What the QEMU runtime tests share: the example models as qgraphs, spike inputs, the comparison with
the host's C runtime (run_c), and a TCP proxy that damages the bytes between client and QEMU."""

from __future__ import annotations

import random
import socket
import threading

import numpy as np

from edgesnn.runtime.binding import run_c
from edgesnn.runtime.engines import load_model, to_qgraph

from tests.helpers.paths import MODELS

# the counters the device reports summed over steps, equal to the host's (instructions come beside them)
FIXED = ("spikes_in", "synops", "neuron_updates", "spikes_out", "param_bytes_read", "arena_bytes_read",
         "arena_bytes_written")


def example_qgraph(name: str):
    """examples/models/NAME.json quantized as `edgesnn run` does."""
    return to_qgraph(load_model(str(MODELS / f"{name}.json")))


def spike_inputs(qgraph, n=2, t=12, seed=0, rate=0.25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, t, *qgraph.graph.input.shape)) < rate).astype(np.uint8)


def same_as_host(res, qgraph, x, schedule="time") -> None:
    """A device run's outputs, exit steps and counters are run_c's for the same schedule. Time-step-major:
    the same layers, each with its instruction count; a grouped schedule: the run's cycles."""
    ref = run_c(qgraph, x, schedule=schedule)
    assert np.array_equal(res.outputs, ref.outputs)
    if ref.steps is not None:
        assert np.array_equal(res.steps, ref.steps)
    if schedule == "time":
        assert set(res.counts) == set(ref.counts)
    for layer, cs in res.counts.items():
        for c in FIXED:
            assert np.array_equal(cs[c], ref.counts[layer][c].sum(axis=1)), (layer, c)
        if schedule == "time":
            assert res.unit == "instructions" and (cs["instructions"] > 0).all(), layer
    if schedule != "time":
        assert (res.run_cycles > 0).all()


class FaultProxy:
    """A loopback TCP proxy that drops, duplicates or corrupts each byte with probability p (both ways)."""

    def __init__(self, p: float = 0.01, seed: int = 0):
        self.p, self.rng = p, random.Random(seed)
        self.enabled = False
        self.counts = {"drop": 0, "dup": 0, "flip": 0, "bytes": 0}
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.target: int | None = None
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def url(self, qemu_port: int) -> str:
        self.target = qemu_port
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        return f"socket://127.0.0.1:{self.port}"

    def _accept(self):
        client, _ = self.lsock.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for a, b in ((client, upstream), (upstream, client)):
            t = threading.Thread(target=self._pump, args=(a, b), daemon=True)
            t.start()
            self.threads.append(t)

    def _mangle(self, data: bytes) -> bytes:
        if not self.enabled:
            return data
        out = bytearray()
        with self.lock:
            for x in data:
                self.counts["bytes"] += 1
                r = self.rng.random()
                if r >= self.p:
                    out.append(x)
                    continue
                kind = self.rng.choice(["drop", "dup", "flip"])
                self.counts[kind] += 1
                if kind == "dup":
                    out += bytes([x, x])
                elif kind == "flip":
                    out.append(x ^ self.rng.randrange(1, 256))
        return bytes(out)

    def _pump(self, src: socket.socket, dst: socket.socket):
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                dst.sendall(self._mangle(data))
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.lsock.close()
