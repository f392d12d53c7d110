"""python -m exercises {list | check N [FILE] | class FOLDER}"""
import argparse
import os
import sys

from exercises.checker import EXERCISES, check_class, check_file


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
    args = parser.parse_args(argv)

    if args.command == "list":
        for number, (filename, title) in sorted(EXERCISES.items()):
            print(f"{number}. {title} (exercises/{filename})")
        return 0
    if args.command == "check":
        if args.file and not os.path.isfile(args.file):
            parser.error(f"no such file: {args.file}")
        report = check_file(args.number, args.file)
        print(report.text())
        return 0 if report.passed == report.total else 1
    if not os.path.isdir(args.folder):
        parser.error(f"no such folder: {args.folder}")
    reports = check_class(args.folder)
    if not reports:
        parser.error(f"no ex<N>_*.py files under {args.folder}")
    for _, _, report in reports:
        print(report.text())
        print()
    print("summary:")
    for path, number, report in reports:
        print(f"  {report.passed}/{report.total}  exercise {number}  "
              f"{os.path.relpath(path, args.folder)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
