"""What the tests share: example records, small trainers, real repositories and tables, a browser.

Test modules import from here and never from one another. Worker subprocesses import the trainers
as `tests.helpers.<module>:<function>` with the repository root on PYTHONPATH.
"""
