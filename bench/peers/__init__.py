"""Samizdat beside GNUnet file-sharing and Tahoe-LAFS, on this machine, in one run.

    .venv/bin/python -m bench.peers [--sizes 1,16,64] [--repeats 3]
        [--systems samizdat,gnunet,tahoe] [--timeout 300] [--keep]

Run as root: it installs what is missing (Debian's ``gnunet``; Tahoe-LAFS from
PyPI into a virtualenv inside the work directory), runs each system as a small
network on 127.0.0.1 inside its own network namespace (``unshare -n`` with only
``lo`` up), moves the same random files through each, checks every byte, and
writes a table (Markdown) and a bar chart (PNG) to ``WORK/output`` and
``bench/out/``. See ``bench/peers/__main__.py``.
"""
