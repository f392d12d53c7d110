"""Classroom exercises for the tutorials, and the checker that marks them.

    python -m exercises list                 # the exercises
    python -m exercises check 3              # check exercises/ex3_corruption.py
    python -m exercises check 3 path/to/student_file.py
    python -m exercises class path/to/class_folder     # every student file in a folder
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CODE = os.path.join(os.path.dirname(HERE), "code")
if CODE not in sys.path:
    sys.path.insert(0, CODE)


def todo(what):
    """What a starter file calls where the student's code goes."""
    raise NotImplementedError(f"{what} is not written yet")
