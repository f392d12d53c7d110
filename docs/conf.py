"""Sphinx configuration for the tutorial chapters (MyST Markdown)."""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, "code")))

project = "Deep Learning Tutorials, PyTensor edition"
author = "the project's contributors"
copyright = "2026, the project's contributors; MNIST by LeCun, Cortes and Burges (CC BY-SA 3.0)"

extensions = [
    "myst_parser",
    "sphinx.ext.mathjax",
    # MathJax shipped with the docs, so maths renders offline too
    "sphinx-mathjax-offline",
]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "runs", "README.md", "performance_table.md"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_theme_options = {"page_width": "1100px", "sidebar_width": "230px"}
pygments_style = "friendly"
# a broken cross-reference is an error, like a broken include
nitpicky = True
