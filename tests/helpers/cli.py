"""Running the command line in-process."""

from edgesnn.cli import main


def run(*args) -> int:
    """`edgesnn ARGS...` in this process (paths and numbers may be given as they are); its exit status."""
    return main([str(a) for a in args])


def fails(capsys, *args) -> str:
    """Run a command that must fail: exit 1, one 'edgesnn CMD: error:' line, no traceback; the message."""
    capsys.readouterr()
    assert run(*args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"edgesnn {args[0]}: error:") and "Traceback" not in err and err.count("\n") == 1, err
    return err
