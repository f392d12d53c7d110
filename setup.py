"""Install the dependencies of the Deep Learning Tutorials, PyTensor edition.

The tutorials are scripts in code/, run directly (python code/dA.py); this
file only declares what they need, so `pip install -e .[test]` prepares a
machine. Version ranges are the ones tested (see README.md).
"""
from setuptools import setup

setup(
    name="dlt-pytensor",
    version="0.1.0",
    description="The LISA lab Deep Learning Tutorials, ported from Theano to PyTensor",
    license="BSD-3-Clause",
    python_requires=">=3.11",
    # scripts, not an importable package
    packages=[],
    py_modules=[],
    install_requires=[
        "pytensor>=3.0.7,<3.1",
        "numpy>=2.0,<2.5",
        "pillow>=10,<14",
        "matplotlib>=3.8,<3.12",
    ],
    extras_require={
        "test": ["pytest>=8,<10", "hypothesis>=6.100,<7"],
        "docs": ["sphinx>=7,<9", "myst-parser>=3,<5", "sphinx-mathjax-offline==0.0.2"],
        "bench": ["torch>=2.4"],
    },
)
