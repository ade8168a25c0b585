"""Applications built on the library: reproductions of the seed papers' experiments.

They call the library (never the CLI); :mod:`symlip.cli.reproduce` exposes them as
``symlip reproduce NAME``.
"""

#: reproduction name -> module under symlip.app; each module defines
#: ``run(out: pathlib.Path, *, quick: bool = False, progress: bool = True) -> dict``
#: (writes its files to ``out`` and returns the JSON summary) and
#: ``summary_text(result: dict) -> str`` (the table printed without --json).
REPRODUCTIONS: dict[str, str] = {
    "double-descent": "double_descent",
    "certified-gd": "certified_gd",
    "splines-1d": "splines_1d",
    "splines-digits": "splines_digits",
}


def check_out_dir(out, force: bool = False):
    """Refuse an output folder before any work: a file in its place, or a non-empty
    folder without ``force`` (:class:`~symlip.errors.InputError` naming the path).
    Returns ``out`` as a :class:`pathlib.Path`; creates nothing."""
    from pathlib import Path

    from symlip.errors import InputError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {str(out)!r} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"output folder {str(out)!r} is not empty; pass --force to "
                         "overwrite the files in it")
    return out
