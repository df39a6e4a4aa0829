"""A strict, generic CBOR codec for frozen message dataclasses, driven by a type registry.

The convention a message class follows (``node.core.messages`` defines the real
ones; tests define their own):

* ``@dataclass(frozen=True, slots=True, kw_only=True)`` with a unique
  class-level ``TYPE: ClassVar[str]`` (nested classes need no ``TYPE``);
* fields typed only as ``int``, ``float``, ``bool``, ``bytes``, ``str``,
  ``X | None``, ``tuple[X, ...]`` or another dataclass of the same convention;
* ``bytes``, ``str`` and ``tuple`` fields declare their maximum length with
  ``field(metadata={"max": N})`` (and may declare ``"min"``); ``int`` and
  ``float`` fields may declare ``{"min": a, "max": b}``; a tuple's items take
  their own limits from ``metadata["item"]`` (e.g. ``{"max": 5, "item": {"max": 32}}``);
* ``__post_init__`` may validate further and raise ``ValueError``, ``TypeError``
  or :class:`RemoteProtocolError`. The codec builds a decoded message as the
  dataclass ``__init__`` does (set every field, then ``__post_init__``), through
  the slots; a class with an ``__init__`` of its own is called instead.

A message is a CBOR map ``{"t": TYPE, <field>: <value>, ...}``; nested
dataclasses are maps of their fields without ``"t"``; tuples are arrays;
``None`` is null. Encoding is cbor2's canonical form (shortest integer and
length heads, definite lengths, map keys sorted length-first then bytewise,
floats in the shortest exact width).

Decoding is strict, and every refusal is a :class:`RemoteProtocolError`: input
over the size limit, malformed CBOR, any tag, indefinite lengths, duplicate or
non-text keys, nesting deeper than the registry needs, an unknown type, missing
or extra fields, a value of the wrong type (``bool`` is not ``int``, an integer
is not a ``float``, NaN and infinities are refused), a value outside its declared
limits, anything ``__post_init__`` rejects, and finally any input that is not
byte-for-byte the canonical encoding of what it decoded to (so one message has
exactly one encoding: trailing bytes and padded integers are refused too).

Sizes are bounded before allocation: the frame limit bounds the input, and the
input bounds every length cbor2 will actually allocate (it reads declared
lengths in chunks and fails at end of input).

Per-class field decoders are built once, when the codec is made, so decoding is
one dict lookup and one small function call per field. So is each class's map
layout in canonical order (its head, keys and type name as constant bytes
between the values): encoding writes those bytes and each value's shortest
head itself, and the canonical check is arithmetic on the decoded values (see
:func:`_is_canonical`), so neither re-encodes nor copies a 32 KiB block.

Most messages (every class whose fields are integers, byte strings, booleans or
optional values that are null) are read by a **fast path** first: a walk over
the class's constant bytes and each value's shortest head, with the field
limits checked on the way, then ``__post_init__``. It accepts only the exact
canonical encoding, so it returns what the full decoder would; anything else
(a float, a nested map, any other head, an error) goes to cbor2 and the checks
above, which say what is wrong. It spares a relay cbor2's pass over the two
messages it reads for each block it forwards.

A relay sends on many of the large messages it decodes unchanged (a block on
its way back). The codec remembers the bytes of the last
:data:`REMEMBERED` large messages it decoded: they are, by the canonical
check, exactly what :meth:`Codec.encode` would produce for that very object,
so encoding it again returns them instead of building them anew.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import cbor2

from node.wire.cbor import ARRAY, BYTES, FALSE, MAP, NINT, NULL, TEXT, TRUE, UINT, head, head_size
from node.wire.errors import LocalProtocolError, RemoteProtocolError
from node.wire.framing import MAX_MESSAGE_SIZE

TYPE_KEY = "t"
# CBOR's native integers; anything wider would need a bignum tag, which we refuse.
CBOR_INT_MIN = -(2**64)
CBOR_INT_MAX = 2**64 - 1
# Every semantic tag cbor2 6 decodes natively; each is refused (as is any other tag,
# through the tag hook, and the canonical re-encoding check catches the rest).
_BUILTIN_TAGS = (
    *(0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261),
    *range(262, 273),
    *(1004, 1040, 55799),
)

REMEMBERED = 4
"""Decoded large messages whose bytes are kept for re-encoding, until it happens.

A relay re-encodes a block message as soon as it has decoded it, so a few
suffice; each is forgotten once used. Keeping more would hold on to blocks
long gone (32 of them were 1 MiB): new blocks would then land in memory
that is no longer in the CPU's cache, and every copy of them would cost more."""
REMEMBER_SIZE = 1024
"""Messages at least this long are remembered; shorter ones are cheaper to encode again."""

T = TypeVar("T")
_Convert = Callable[[object], object]
_Emit = Callable[[Any, list[bytes]], None]  # validate a value, append its canonical CBOR
_Size = Callable[[Any], int]  # the canonical length of a decoded, validated value
_SetSlot = Callable[[object, object], None]
_new_object = object.__new__


class _Invalid(Exception):
    """A value breaks the schema; converted to Remote/LocalProtocolError at the boundary."""


class _NotCanonical(Exception):
    """A nested map's keys came in another order than the canonical one."""


class _NoFast(Exception):
    """Not the plain canonical form the fast path reads: the full decoder judges it."""


_Parse = Callable[[bytes, int], tuple[Any, int]]  # a value at ``pos``, and where it ends
# The low bits of a head whose argument follows in 2, 4 or 8 bytes: how to read
# it, the head's length, and the least argument that needs that many bytes.
_WIDE_HEADS: dict[int, tuple[Callable[[bytes, int], tuple[int, ...]], int, int]] = {
    25: (struct.Struct(">H").unpack_from, 3, 0x100),
    26: (struct.Struct(">I").unpack_from, 5, 0x10000),
    27: (struct.Struct(">Q").unpack_from, 9, 0x100000000),
}


def _one(_v: object) -> int:
    return 1  # true, false and null


def _float_bytes(v: float) -> bytes:
    return bytes(cbor2.dumps(v, canonical=True))  # its shortest exact width: cbor2 decides


def _reject_tag(decoder: object, *args: object) -> object:
    raise _Invalid("CBOR tags are not allowed")


_REJECT_SEMANTIC: dict[int, Callable[..., object]] = dict.fromkeys(_BUILTIN_TAGS, _reject_tag)


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldCodec:
    """How one declared type turns wire values into Python values and back."""

    decode: _Convert  # a decoded CBOR value to the field's value, checked
    emit: _Emit  # the field's value, checked, as canonical CBOR pieces
    size: _Size  # the canonical length of a value ``decode`` accepted
    depth: int  # container levels this value adds (0 for scalars)
    parse: _Parse | None = None  # the fast path's reader, for the types it reads


@dataclasses.dataclass(frozen=True, slots=True)
class _ClassCodec:
    """A message (or nested) class: its fields, and its map's layout in canonical order.

    ``entries`` walks the map in canonical key order: before each field's value
    come the constant bytes since the previous value (the map head, keys, and
    ``"t"`` with the type name), and ``tail`` is whatever constant bytes come
    after the last value. ``fixed`` is the length of all those constant bytes.
    """

    cls: type
    type_name: str | None
    fields: tuple[tuple[str, _Convert, _SetSlot | None], ...]  # declaration order
    depth: int
    key_order: tuple[str, ...]  # the map's keys ("t" too, if any) in canonical order
    entries: tuple[tuple[bytes, str, _Emit], ...]
    tail: bytes
    sizes: tuple[tuple[str, _Size], ...]
    fixed: int
    direct: bool  # built as its dataclass __init__ would (see _builds_directly)
    post_init: Callable[[object], None] | None
    # The fast path: (constant, its length, reader, slot setter, name) per value in
    # canonical order; None if a field has a type the fast path does not read.
    fast: tuple[tuple[bytes, int, _Parse, _SetSlot | None, str], ...] | None = None

    def decode_map(self, raw: object, extra_keys: int) -> object:
        if type(raw) is not dict:
            raise _Invalid(f"{self.cls.__name__} must be a CBOR map")
        message: object = _new_object(self.cls) if self.direct else None
        kwargs: dict[str, object] = {}
        for name, decode, set_slot in self.fields:
            try:
                value = raw[name]
            except KeyError:
                raise _Invalid(f"{self._label()} lacks the field {name!r}") from None
            try:
                value = decode(value)
            except _Invalid as exc:
                raise _Invalid(f"{self._label()}.{name}: {exc}") from None
            if set_slot is None:
                kwargs[name] = value
            else:
                set_slot(message, value)
        if len(raw) != len(self.fields) + extra_keys:
            known = {name for name, _d, _s in self.fields} | ({TYPE_KEY} if extra_keys else set())
            extra = sorted(repr(k) for k in raw if k not in known)[:5]
            raise _Invalid(f"{self._label()} has unknown fields: {', '.join(extra)}")
        try:
            if message is None:
                return self.cls(**kwargs)
            if self.post_init is not None:
                self.post_init(message)
        except (ValueError, TypeError, RemoteProtocolError) as exc:
            # __post_init__ refused it (node.core raises RemoteProtocolError itself).
            raise _Invalid(f"{self._label()} is invalid: {exc}") from None
        return message

    def decode_fast(self, data: bytes) -> object | None:
        """The message ``data`` is the canonical encoding of, read without cbor2; None
        if ``data`` is anything else (or breaks a rule :meth:`decode_map` enforces),
        for the full decoder to judge. Equal to what the full decoder returns."""
        fast = self.fast
        assert fast is not None
        message: object = _new_object(self.cls) if self.direct else None
        kwargs: dict[str, object] = {}
        pos = 0
        try:
            for constant, length, parse, set_slot, name in fast:
                if not data.startswith(constant, pos):
                    return None
                value, pos = parse(data, pos + length)
                if set_slot is None:
                    kwargs[name] = value
                else:
                    set_slot(message, value)
        except (_NoFast, IndexError, struct.error):
            return None
        tail = self.tail
        if pos + len(tail) != len(data) or (tail and not data.startswith(tail, pos)):
            return None
        try:
            if message is None:
                message = self.cls(**kwargs)
            elif self.post_init is not None:
                self.post_init(message)
        except (ValueError, TypeError, RemoteProtocolError):
            return None  # the full decoder says why
        return message

    def encode_into(self, message: object, out: list[bytes]) -> None:
        """Append the canonical CBOR of ``message``'s map to ``out``, checking every field."""
        name = ""
        try:
            for constant, name, emit in self.entries:
                out.append(constant)
                emit(getattr(message, name), out)
        except _Invalid as exc:
            raise _Invalid(f"{self._label()}.{name}: {exc}") from None
        if self.tail:
            out.append(self.tail)

    def canonical_size(self, raw: dict[str, Any]) -> int:
        """The length of the canonical encoding of ``raw``, which :meth:`decode_map` accepted.

        Raises:
            _NotCanonical: a nested map's keys are out of canonical order.
        """
        n = self.fixed
        for name, size in self.sizes:
            n += size(raw[name])
        return n

    def _label(self) -> str:
        return self.type_name or self.cls.__name__


def _bounds(meta: Mapping[str, Any], lo: float, hi: float) -> tuple[Any, Any]:
    return meta.get("min", lo), meta.get("max", hi)


def _int_size(v: int) -> int:
    if v < 0:
        v = -1 - v
    # head_size(v), inlined: this runs for every integer of every message decoded.
    return 1 if v < 24 else 2 if v < 0x100 else 3 if v < 0x10000 else 5 if v < 0x100000000 else 9


def _int_codec(meta: Mapping[str, Any]) -> _FieldCodec:
    lo, hi = _bounds(meta, CBOR_INT_MIN, CBOR_INT_MAX)
    lo, hi = max(lo, CBOR_INT_MIN), min(hi, CBOR_INT_MAX)

    def convert(v: object) -> object:
        if type(v) is not int:
            raise _Invalid(f"expected an integer, got {type(v).__name__}")
        if not lo <= v <= hi:
            raise _Invalid(f"{v} is outside [{lo}, {hi}]")
        return v

    def emit(v: Any, out: list[bytes]) -> None:
        if type(v) is not int or not lo <= v <= hi:
            convert(v)  # raises, saying why
        out.append(head(UINT, v) if v >= 0 else head(NINT, -1 - v))

    return _FieldCodec(convert, emit, _int_size, 0, _uint_parser(lo, hi) if lo >= 0 else None)


def _float_codec(meta: Mapping[str, Any]) -> _FieldCodec:
    lo, hi = _bounds(meta, -math.inf, math.inf)

    def decode(v: object) -> object:
        if type(v) is not float:
            raise _Invalid(f"expected a float, got {type(v).__name__}")
        if not math.isfinite(v):
            raise _Invalid("NaN and infinities are not allowed")
        if not lo <= v <= hi:
            raise _Invalid(f"{v} is outside [{lo}, {hi}]")
        return v

    def emit(v: object, out: list[bytes]) -> None:
        v = float(v) if type(v) is int else v
        decode(v)
        assert type(v) is float
        out.append(_float_bytes(v))

    def size(v: float) -> int:
        return len(_float_bytes(v))

    return _FieldCodec(decode, emit, size, 0)


def _bool_codec() -> _FieldCodec:
    def convert(v: object) -> object:
        if type(v) is not bool:
            raise _Invalid(f"expected a boolean, got {type(v).__name__}")
        return v

    def emit(v: object, out: list[bytes]) -> None:
        convert(v)
        out.append(TRUE if v else FALSE)

    return _FieldCodec(convert, emit, _one, 0, _parse_bool)


def _sized_codec(kind: type, meta: Mapping[str, Any], where: str) -> _FieldCodec:
    if "max" not in meta:
        raise TypeError(f"{where}: a {kind.__name__} field must declare metadata={{'max': N}}")
    lo, hi = int(meta.get("min", 0)), int(meta["max"])
    unit = "bytes" if kind is bytes else "characters"

    def convert(v: object) -> object:
        if type(v) is not kind:
            raise _Invalid(f"expected {kind.__name__}, got {type(v).__name__}")
        n = len(v)  # type: ignore[arg-type]
        if not lo <= n <= hi:
            raise _Invalid(f"length {n} {unit} is outside [{lo}, {hi}]")
        return v

    def emit_bytes(v: Any, out: list[bytes]) -> None:
        if type(v) is not bytes or not lo <= len(v) <= hi:
            convert(v)  # raises, saying why
        out.append(head(BYTES, len(v)))
        out.append(v)

    def size_bytes(v: bytes) -> int:
        n = len(v)
        return head_size(n) + n

    def emit_text(v: object, out: list[bytes]) -> None:
        convert(v)
        assert type(v) is str
        try:
            utf8 = v.encode()
        except UnicodeEncodeError:
            raise _Invalid("the text is not encodable as UTF-8") from None
        out.append(head(TEXT, len(utf8)))
        out.append(utf8)

    def size_text(v: str) -> int:
        n = len(v) if v.isascii() else len(v.encode())
        return head_size(n) + n

    if kind is bytes:
        return _FieldCodec(convert, emit_bytes, size_bytes, 0, _bytes_parser(lo, hi))
    return _FieldCodec(convert, emit_text, size_text, 0)


def _optional_codec(inner: _FieldCodec) -> _FieldCodec:
    inner_decode, inner_emit, inner_size = inner.decode, inner.emit, inner.size

    def decode(v: object) -> object:
        return None if v is None else inner_decode(v)

    def emit(v: object, out: list[bytes]) -> None:
        if v is None:
            out.append(NULL)
        else:
            inner_emit(v, out)

    def size(v: object) -> int:
        return 1 if v is None else inner_size(v)

    return _FieldCodec(decode, emit, size, inner.depth, _null_or(inner.parse))


def _tuple_codec(item: _FieldCodec, meta: Mapping[str, Any], where: str) -> _FieldCodec:
    if "max" not in meta:
        raise TypeError(f"{where}: a tuple field must declare metadata={{'max': N}}")
    lo, hi = int(meta.get("min", 0)), int(meta["max"])
    item_decode, item_emit, item_size = item.decode, item.emit, item.size

    def check(n: int) -> None:
        if not lo <= n <= hi:
            raise _Invalid(f"{n} items is outside [{lo}, {hi}]")

    def decode(v: object) -> object:
        if type(v) is not list:
            raise _Invalid(f"expected an array, got {type(v).__name__}")
        check(len(v))
        return tuple([item_decode(x) for x in v])

    def emit(v: object, out: list[bytes]) -> None:
        if not isinstance(v, tuple):
            raise _Invalid(f"expected a tuple, got {type(v).__name__}")
        check(len(v))
        out.append(head(ARRAY, len(v)))
        for x in v:
            item_emit(x, out)

    def size(v: list[Any]) -> int:
        return head_size(len(v)) + sum(map(item_size, v))

    return _FieldCodec(decode, emit, size, 1 + item.depth)


def _nested_codec(codec: _ClassCodec) -> _FieldCodec:
    cls, key_order = codec.cls, codec.key_order

    def decode(v: object) -> object:
        return codec.decode_map(v, 0)

    def emit(v: object, out: list[bytes]) -> None:
        if type(v) is not cls:
            raise _Invalid(f"expected {cls.__name__}, got {type(v).__name__}")
        codec.encode_into(v, out)

    def size(v: dict[str, Any]) -> int:
        if tuple(v) != key_order:
            raise _NotCanonical
        return codec.canonical_size(v)

    return _FieldCodec(decode, emit, size, codec.depth)


# -- the fast path's readers ------------------------------------------------------
# Each reads one value in its canonical form at ``pos`` and returns it with the
# position after it. Anything else (another major type, a longer head than
# needed, a value outside its limits, the end of the input) raises _NoFast or
# IndexError, and the full decoder then reads the message and says what is wrong.


def _argument(data: bytes, pos: int, major: int) -> tuple[int, int]:
    """The argument of the head at ``pos``, which must be of type ``major`` (its top
    three bits: 0x00 an unsigned integer, 0x40 a byte string) and as short as it can
    be; and the position after the head."""
    b = data[pos] - major
    if 0 <= b < 24:
        return b, pos + 1
    if b == 24:
        n = data[pos + 1]
        if n >= 24:
            return n, pos + 2
        raise _NoFast
    wide = _WIDE_HEADS.get(b)
    if wide is not None:
        unpack, size, least = wide
        n = unpack(data, pos + 1)[0]
        if n >= least:
            return n, pos + size
    raise _NoFast


def _uint_parser(lo: int, hi: int) -> _Parse:
    def parse(data: bytes, pos: int) -> tuple[Any, int]:
        v, pos = _argument(data, pos, 0x00)
        if not lo <= v <= hi:
            raise _NoFast
        return v, pos

    return parse


def _bytes_parser(lo: int, hi: int) -> _Parse:
    def parse(data: bytes, pos: int) -> tuple[Any, int]:
        n, pos = _argument(data, pos, 0x40)
        end = pos + n
        if not lo <= n <= hi or end > len(data):
            raise _NoFast
        return data[pos:end], end

    return parse


def _parse_bool(data: bytes, pos: int) -> tuple[Any, int]:
    b = data[pos]
    if b == 0xF5:
        return True, pos + 1
    if b == 0xF4:
        return False, pos + 1
    raise _NoFast


def _null_or(inner: _Parse | None) -> _Parse:
    """``X | None``: null, else ``inner`` (a type the fast path does not read: null only)."""

    def parse(data: bytes, pos: int) -> tuple[Any, int]:
        if data[pos] == 0xF6:
            return None, pos + 1
        if inner is None:
            raise _NoFast
        return inner(data, pos)

    return parse


def _field_codec(
    hint: object, meta: Mapping[str, Any], where: str, stack: tuple[type, ...]
) -> _FieldCodec:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is bool:
        return _bool_codec()
    if hint is int:
        return _int_codec(meta)
    if hint is float:
        return _float_codec(meta)
    if hint is bytes or hint is str:
        return _sized_codec(hint, meta, where)
    if origin in (types.UnionType, typing.Union):
        others = [a for a in args if a is not type(None)]
        if len(args) == 2 and len(others) == 1:
            return _optional_codec(_field_codec(others[0], meta, where, stack))
        raise TypeError(f"{where}: only 'X | None' unions are supported, not {hint}")
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{where}: only tuple[X, ...] is supported, not {hint}")
        item = _field_codec(args[0], meta.get("item", {}), f"{where}[item]", stack)
        return _tuple_codec(item, meta, where)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _nested_codec(_class_codec(hint, stack))
    raise TypeError(f"{where}: unsupported field type {hint!r}")


def _class_codec(cls: type, stack: tuple[type, ...] = ()) -> _ClassCodec:
    if cls in stack:
        raise TypeError(f"{cls.__name__}: recursive message types are not supported")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not params.frozen:
        raise TypeError(f"{cls.__name__} must be a frozen dataclass")
    hints = typing.get_type_hints(cls)
    codecs: dict[str, _FieldCodec] = {}
    for f in dataclasses.fields(cls):
        if f.name == TYPE_KEY:
            raise TypeError(f"{cls.__name__}: the field name {TYPE_KEY!r} is reserved")
        if not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: every field must be an __init__ field")
        where = f"{cls.__name__}.{f.name}"
        codecs[f.name] = _field_codec(hints[f.name], f.metadata, where, (*stack, cls))
    type_name = getattr(cls, "TYPE", None)
    if type_name is not None and not isinstance(type_name, str):
        raise TypeError(f"{cls.__name__}.TYPE must be a str")
    keys = [*codecs, *([TYPE_KEY] if type_name is not None else [])]
    key_order = tuple(cbor2.loads(cbor2.dumps(dict.fromkeys(keys), canonical=True)))
    # The map's constant bytes, gathered between the values in canonical order.
    entries = []
    constant = head(MAP, len(key_order))
    fixed = 0
    for key in key_order:
        constant += cbor2.dumps(key)
        if key == TYPE_KEY:
            constant += cbor2.dumps(type_name)
        else:
            entries.append((constant, key, codecs[key].emit))
            fixed += len(constant)
            constant = b""
    fixed += len(constant)
    direct = _builds_directly(cls, list(codecs))
    fast = None
    if all(codecs[name].parse is not None for name in codecs):
        fast = tuple(
            (
                constant,
                len(constant),
                typing.cast(_Parse, codecs[name].parse),
                getattr(cls, name).__set__ if direct else None,
                name,
            )
            for constant, name, _emit in entries
        )
    return _ClassCodec(
        cls=cls,
        type_name=type_name,
        fields=tuple(
            (name, c.decode, getattr(cls, name).__set__ if direct else None)
            for name, c in codecs.items()
        ),
        depth=1 + max((c.depth for c in codecs.values()), default=0),
        key_order=key_order,
        entries=tuple(entries),
        tail=constant,
        sizes=tuple((name, c.size) for name, c in codecs.items()),
        fixed=fixed,
        direct=direct,
        post_init=getattr(cls, "__post_init__", None),
        fast=fast,
    )


def _builds_directly(cls: type, names: list[str]) -> bool:
    """Whether a decoded ``cls`` may be built as its dataclass ``__init__`` builds it.

    That ``__init__`` (which ``dataclasses`` writes for a frozen class) only
    sets each field through ``object.__setattr__`` and then calls
    ``__post_init__``; with every value given, the codec does the same through
    the slots' descriptors, which is twice as fast as the keyword call. A class
    with an ``__init__`` or ``__new__`` of its own, or without slots, is built
    by calling it.
    """
    init = getattr(getattr(cls, "__init__", None), "__code__", None)
    return (
        init is not None
        and "__dataclass_builtins_object__" in (*init.co_freevars, *init.co_names)
        and getattr(cls, "__new__", None) is object.__new__
        and all(type(getattr(cls, name, None)) is types.MemberDescriptorType for name in names)
    )


def _is_canonical(codec: _ClassCodec, raw: dict[Any, Any], data: bytes) -> bool:
    """Whether ``data`` is exactly the canonical encoding of ``raw`` (which it decoded to).

    ``raw`` came from ``data`` through the strict decoder (no tags, definite
    lengths only) and passed :meth:`_ClassCodec.decode_map`, so it holds only
    the schema's types. Every item of ``data`` is then at least as long as
    its canonical form (integer and length heads at least as long as the
    shortest, floats at least their shortest exact width), and equally long
    only if identical. So ``data`` is canonical exactly when each map's keys
    came in canonical order and ``data`` is as long as the canonical encoding
    (a longer head, or trailing bytes, would make it longer): a sum over a
    few small values, where re-encoding would copy a 32 KiB block.
    """
    if tuple(raw) != codec.key_order:
        return False
    try:
        return codec.canonical_size(raw) == len(data)
    except _NotCanonical:
        return False


def registry_of(classes: Iterable[type]) -> dict[str, type]:
    """Build a ``{TYPE: class}`` registry, refusing a missing or duplicated ``TYPE``."""
    registry: dict[str, type] = {}
    for cls in classes:
        name = getattr(cls, "TYPE", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__name__} has no TYPE: ClassVar[str]")
        if name in registry:
            raise TypeError(
                f"TYPE {name!r} is used by {registry[name].__name__} and {cls.__name__}"
            )
        registry[name] = cls
    return registry


class Codec:
    """Encodes registered messages to canonical CBOR and decodes them strictly.

    Args:
        registry: ``{TYPE: class}`` for every message this link may carry.
        max_size: the largest encoded message accepted or produced.

    Raises:
        TypeError: at construction, if a class breaks the convention.
    """

    __slots__ = ("_by_class", "_by_type", "_decoded", "_fast", "_max_depth", "max_size")

    def __init__(self, registry: Mapping[str, type], *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._by_type: dict[str, _ClassCodec] = {}
        self._by_class: dict[type, _ClassCodec] = {}
        for name, cls in registry.items():
            codec = _class_codec(cls)
            if codec.type_name != name:
                raise TypeError(f"registry key {name!r} differs from {cls.__name__}.TYPE")
            self._by_type[name] = codec
            self._by_class[cls] = codec
        # The fast path's classes, by the bytes that open their encoding: the map
        # head, "t" (the first key: the shortest) and the type name.
        self._fast: dict[bytes, _ClassCodec] = {}
        for codec in self._by_type.values():
            if codec.fast is None or not codec.fast:
                continue
            opening = codec.fast[0][0]
            name_size = len(codec.type_name.encode()) if codec.type_name else 24
            if name_size < 24 and opening[1:3] == b"at":
                self._fast[opening[: 4 + name_size]] = codec
        self._max_depth = max((c.depth for c in self._by_type.values()), default=1)
        self.max_size = max_size
        # id(message) -> (message, its bytes): the message is held, so its id stays its own.
        self._decoded: dict[int, tuple[object, bytes]] = {}

    def encode(self, message: object) -> bytes:
        """Canonical CBOR of ``message``; :class:`LocalProtocolError` if it breaks its schema."""
        # A remembered message is held, so no other live object can have its id.
        decoded = self._decoded.pop(id(message), None)
        if decoded is not None:
            return decoded[1]
        codec = self._by_class.get(type(message))
        if codec is None:
            raise LocalProtocolError(f"{type(message).__name__} is not a registered message")
        out: list[bytes] = []
        try:
            codec.encode_into(message, out)
        except _Invalid as exc:
            raise LocalProtocolError(f"cannot send {exc}") from None
        data = b"".join(out)
        if len(data) > self.max_size:
            raise LocalProtocolError(
                f"{codec.type_name} encodes to {len(data)} bytes; the limit is {self.max_size}"
            )
        return data

    def decode(self, data: bytes) -> object:
        """The message ``data`` encodes; :class:`RemoteProtocolError` for anything else."""
        if len(data) > self.max_size:
            raise RemoteProtocolError(
                f"a {len(data)}-byte message exceeds the {self.max_size}-byte limit"
            )
        # The fast path: a message of a class whose fields are all integers, byte
        # strings, booleans or null, in exactly its canonical encoding, is read
        # here; anything else goes to cbor2 and the checks below.
        if type(data) is bytes and len(data) > 3 and 0x60 <= data[3] < 0x78:
            fast = self._fast.get(data[: data[3] - 0x5C])
            if fast is not None:
                message = fast.decode_fast(data)
                if message is not None:
                    if len(data) >= REMEMBER_SIZE:
                        self._remember(message, data)
                    return message
        try:
            raw = cbor2.loads(
                data,
                tag_hook=_reject_tag,
                semantic_decoders=_REJECT_SEMANTIC,
                max_depth=self._max_depth,
                allow_indefinite=False,
                allow_duplicate_keys=False,
                strict_hashable_types=True,
            )
        except (cbor2.CBORError, _Invalid, ValueError, TypeError, OverflowError, RecursionError):
            raise RemoteProtocolError("the message is not valid CBOR (or uses tags)") from None
        if type(raw) is not dict:
            raise RemoteProtocolError("a message must be a CBOR map")
        name = raw.get(TYPE_KEY)
        codec = self._by_type.get(name) if type(name) is str else None
        if codec is None:
            shown = repr(name)[:40]
            raise RemoteProtocolError(f"unknown message type {shown}")
        try:
            message = codec.decode_map(raw, 1)
        except _Invalid as exc:
            raise RemoteProtocolError(str(exc)) from None
        if not _is_canonical(codec, raw, data):
            raise RemoteProtocolError(f"{name} is not in canonical CBOR form")
        if len(data) >= REMEMBER_SIZE:
            self._remember(message, bytes(data))
        return message

    def _remember(self, message: object, data: bytes) -> None:
        remembered = self._decoded
        if len(remembered) >= REMEMBERED:
            del remembered[next(iter(remembered))]  # the oldest
        remembered[id(message)] = (message, data)

    def decode_as(self, data: bytes, cls: type[T]) -> T:
        """Decode and insist on one message class (e.g. the first message of a link)."""
        message = self.decode(data)
        if type(message) is not cls:
            raise RemoteProtocolError(f"expected a {cls.__name__}, got {type(message).__name__}")
        return message
