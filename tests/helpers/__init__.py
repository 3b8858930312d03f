"""What the tests share that is not a fixture (fixtures and the tool markers are in tests/conftest.py):

- paths: the checkout's folders (ROOT, EXAMPLES, MODELS, DATA, FIXTURES, NIR_PAPER);
- boards: facts read from the board catalogue (EMULATED, DEFAULT_BOARD);
- tools: which external tools this machine has (the conftest markers skip on them);
- cli: `run(*args)` and `fails(capsys, *args)` for the command line;
- models: the NIR paper's graphs, the example models and hypothesis strategies for random graphs;
- cbuild: building runtime_c with the host compiler, and tools/esn_run.c's file formats;
- device: what the QEMU runtime tests compare (FIXED counters, example qgraphs, inputs) and a
  byte-damaging TCP proxy.

Test modules import them as `tests.helpers.<module>`; no test module imports another.
"""
