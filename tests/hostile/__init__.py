"""The hostile-input corpus (issue #16): bad artifacts and arguments through every command, each case asserting
its exact one-line message, exit status 1, no output file and no traceback; for the runtime cases the same
verdict from fixed-python and fixed-c. One module per area, each generating its cases from a seeded script."""
