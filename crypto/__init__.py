"""Samizdat's keys, blocks and URIs: the one package that knows the byte formats.

Pure functions, bytes in and bytes out. No PyNaCl or blake3 object leaves this
package; callers see ``bytes``, small frozen dataclasses and the errors in
:mod:`crypto.errors`. ``specs/keys.md`` is the normative description.
"""
