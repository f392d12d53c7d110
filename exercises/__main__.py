"""python -m exercises {list | check N [FILE] | class FOLDER}"""
import argparse
import os
import sys

from exercises.checker import (EXERCISES, TIME_LIMIT, check_class, check_isolated,
                               isolated_child)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m exercises",
        description="Check exercise files against the reference models.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the exercises")
    check = sub.add_parser("check", help="check one exercise file")
    check.add_argument("number", type=int, choices=sorted(EXERCISES))
    check.add_argument("file", nargs="?",
                       help="the student's file (default: the one in exercises/)")
    klass = sub.add_parser("class", help="check every ex<N>_*.py file under a folder")
    klass.add_argument("folder")
    for command in (check, klass):
        command.add_argument("--time-limit", type=int, default=TIME_LIMIT, metavar="SECONDS",
                             help="stop a student's file after this long (default: %(default)s)")
    child = sub.add_parser("_isolated")   # the checker's own child process
    child.add_argument("number", type=int, choices=sorted(EXERCISES))
    child.add_argument("file")
    args = parser.parse_args(argv)

    if args.command == "_isolated":
        isolated_child(args.number, args.file)
        return 0
    if args.command == "list":
        for number, (filename, title) in sorted(EXERCISES.items()):
            print(f"{number}. {title} (exercises/{filename})")
        return 0
    if args.command == "check":
        if args.file and not os.path.isfile(args.file):
            parser.error(f"no such file: {args.file}")
        report = check_isolated(args.number, args.file, args.time_limit)
        print(report.text())
        return 0 if report.passed == report.total else 1
    if not os.path.isdir(args.folder):
        parser.error(f"no such folder: {args.folder}")

    def show(path, number, report):   # each report as soon as it is done
        print(report.text())
        print(flush=True)
    reports = check_class(args.folder, on_report=show, time_limit=args.time_limit)
    if not reports:
        parser.error(f"no ex<N>_*.py files under {args.folder}")
    print("summary:")
    for path, number, report in reports:
        print(f"  {report.passed}/{report.total}  exercise {number}  "
              f"{os.path.relpath(path, args.folder)}")
    # non-zero when any check failed, so that a script or CI can tell
    return 0 if all(r.passed == r.total for _, _, r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
