"""`python -m lab.overlays pack|unpack|check|starters`: see lab/overlays/__init__.py."""
import argparse
import sys
from pathlib import Path

from ..errors import LabError
from . import __doc__ as DOC, pack, problems, record_starters, stale_starters, starter_files, unpack


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.overlays", description=DOC.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("pack", "unpack"):
        s = sub.add_parser(name)
        s.add_argument("folders", nargs="+", type=Path)
    sub.add_parser("check")
    s = sub.add_parser("starters")
    s.add_argument("--record", action="store_true", help="note the bases the starters are made from now")
    a = p.parse_args(argv)
    try:
        if a.cmd == "pack":
            print(f"{pack(a.folders)} file(s) packed")
        elif a.cmd == "unpack":
            print(f"{unpack(a.folders)} file(s) unpacked")
        elif a.cmd == "check":
            bad = problems()
            print("\n".join(bad) or "every overlay patch applies; no whole copy left")
            return 1 if bad else 0
        elif a.cmd == "starters":
            if a.record:
                record_starters()
            bad = stale_starters()
            print("\n".join(bad) or f"{len(starter_files())} starter files, each made from today's base")
            return 1 if bad else 0
    except LabError as e:
        print(f"lab.overlays: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
