"""Install the dependencies of the Deep Learning Tutorials, PyTensor edition.

The tutorials are scripts in code/, run directly (python code/dA.py); this
file only declares what they need, so `pip install -e .[test]` prepares a
machine, and makes numba_speedups/ importable. Each range admits the minor version the project was tested with
(the exact versions are listed in README.md) and its later patch releases.
"""
from setuptools import setup

setup(
    name="dlt-pytensor",
    version="0.1.0",
    description="The LISA lab Deep Learning Tutorials, ported from Theano to PyTensor",
    license="BSD-3-Clause",
    python_requires=">=3.11",
    # the tutorials are scripts, not a package; the one package is the
    # speed-up plug-in the scripts install from their main()
    packages=["numba_speedups"],
    py_modules=[],
    install_requires=[
        "pytensor>=3.0.7,<3.1",
        "numpy>=2.4,<2.5",
        "pillow>=13.0,<13.1",
        "matplotlib>=3.11,<3.12",
        # logistic_cg.py's optimiser; PyTensor depends on it already
        "scipy>=1.17,<1.18",
    ],
    extras_require={
        "test": ["pytest>=9.2,<9.3", "hypothesis>=6.170,<7", "pytest-xdist>=3.8,<3.9"],
        "docs": ["sphinx>=8.2,<8.3", "myst-parser>=4.0,<4.1", "sphinx-mathjax-offline==0.0.2"],
        "bench": ["torch>=2.14,<2.15"],
    },
)
