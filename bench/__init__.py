"""sugo's benchmark suite, measured side by side with tomato 2.2.

Run it from the repository root with ``.venv/bin/python -m bench`` (or
``.venv/bin/python bench/run.py``); ``--help`` lists the options. Not part of
the test run.
"""
