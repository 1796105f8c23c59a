"""Immutable records in ``typing.NamedTuple``'s class syntax, for the modules ``hardbox run``
and ``hardbox exec`` load before a container starts.

``typing`` takes ~6 ms to import (with the ``re`` it loads) and ``typing.NamedTuple``
compiles a ``__new__`` for every class it makes (~0.3 ms each; ~27 records are defined on the
way to a container): together a tenth of the start-up budget `hardbox run` is measured by
against runc (bench/RESULTS.md, issue 14). Type checkers see ``typing.NamedTuple`` itself
(the ``TYPE_CHECKING`` branch below), so mypy checks fields, defaults and ``_replace`` as it
always did. At run time ``NamedTuple`` makes the same shape — a tuple subclass with no
``__dict__``, ``_fields``, ``_field_defaults``, ``__match_args__``, one read-only accessor per
field (the C ``_tuplegetter`` collections.namedtuple uses), ``_make``, ``_replace``,
``_asdict`` and the same repr — sharing one ``__new__`` instead of compiling one per class.

Use it as typing's: ``from hardbox.records import NamedTuple``, then ``class Mount(NamedTuple):``
with annotated fields, defaults after the fields without one, methods and a docstring.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads it as True)

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    from _collections import _tuplegetter

    class _RecordType(type):
        """Turns the annotated names of a class body into tuple fields, as typing does."""

        def __new__(mcls, name, bases, namespace):
            if namespace.get("_record_base") or any(isinstance(b, _RecordType) and b is not NamedTuple
                                                    for b in bases):
                # The base itself, or a subclass of a record adding methods only.
                namespace.setdefault("__slots__", ())
                return super().__new__(mcls, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = {}
            for field in fields:
                if field.startswith("_"):
                    raise ValueError(f"{name}: field names cannot start with an underscore: {field!r}")
                if field in namespace:
                    defaults[field] = namespace.pop(field)
                elif defaults:
                    raise TypeError(f"{name}: non-default field {field!r} follows a default one")
            namespace["__slots__"] = ()
            namespace["_fields"] = fields
            namespace["_field_defaults"] = defaults
            namespace["__match_args__"] = fields
            for index, field in enumerate(fields):
                namespace[field] = _tuplegetter(index, f"Alias for field number {index}")
            return super().__new__(mcls, name, bases, namespace)

    class NamedTuple(tuple, metaclass=_RecordType):
        _record_base = True
        _fields: tuple[str, ...] = ()
        _field_defaults: dict[str, object] = {}  # noqa: RUF012 (read-only; each record has its own)

        def __new__(cls, *args, **kwargs):
            fields = cls._fields
            if len(args) > len(fields):
                raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments but {len(args)} were given")
            values = list(args)
            for field in fields[len(args):]:
                if field in kwargs:
                    values.append(kwargs.pop(field))
                elif field in cls._field_defaults:
                    values.append(cls._field_defaults[field])
                else:
                    raise TypeError(f"{cls.__name__}() missing required argument: {field!r}")
            if kwargs:  # unknown, or given both by position and by name
                raise TypeError(f"{cls.__name__}() got unexpected or repeated arguments: {', '.join(kwargs)}")
            return tuple.__new__(cls, values)

        @classmethod
        def _make(cls, iterable):
            made = tuple.__new__(cls, iterable)
            if len(made) != len(cls._fields):
                raise TypeError(f"{cls.__name__}: expected {len(cls._fields)} values, got {len(made)}")
            return made

        def _replace(self, **changes):
            values = [changes.pop(field, value) for field, value in zip(self._fields, self, strict=True)]
            if changes:
                raise ValueError(f"{type(self).__name__}: unknown fields {', '.join(changes)}")
            return tuple.__new__(type(self), values)

        def _asdict(self):
            return dict(zip(self._fields, self, strict=True))

        def __repr__(self):
            shown = ", ".join(f"{field}={value!r}" for field, value in zip(self._fields, self, strict=True))
            return f"{type(self).__name__}({shown})"

        def __getnewargs__(self):
            return tuple(self)
