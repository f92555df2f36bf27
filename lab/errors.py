"""Errors that mean "the input is wrong", and the one-line messages the command line prints.

`ConfigError` is a setting or a file field that cannot be used (the message names it);
`validation_line` is the one formatting of a pydantic error (settings, bench files, task
files); `one_line` is any exception as one line (OS errors by their reason).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A setting or configuration file that cannot be used; the message names the field."""


def one_line(exc: BaseException | str) -> str:
    """An exception (or a text) as one line, whitespace runs collapsed to one space.

    An OSError with an errno (pyserial, h5py and the OS put ``[Errno n]`` in front of the
    text) is its reason, then its file name(s) when it has them and the reason does not
    already say them: ``No such file or directory: '/x'``. Any other exception is its
    text; an exception without text (or only whitespace) is its type's name. The one
    formatting for the lab, the drivers and the window (issue 13)."""
    if isinstance(exc, str):
        return " ".join(exc.split())
    text = ""
    if (isinstance(exc, OSError) and isinstance(exc.strerror, str) and exc.strerror.strip()
            and not isinstance(exc.errno, str)):
        text = exc.strerror
        names = [n for n in (exc.filename, exc.filename2) if n is not None]
        if names and not any(str(n) in text for n in names):
            text += ": " + " -> ".join(repr(n) for n in names)
    text = " ".join((text or str(exc)).split())
    return text or type(exc).__name__


def short_repr(x: Any) -> str:
    r = repr(x)
    return r if len(r) <= 40 else r[:37] + "..."


def _as_model(annotation: Any) -> type[BaseModel] | None:
    """The model class of a field annotated ``annotation`` (``M`` or ``M | None``)."""
    arms = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()
    for arm in arms or (annotation,):
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            return arm
    return None


def _item_model(annotation: Any, key: object) -> type[BaseModel] | None:
    """The model of item ``key`` (a list index or a table key) of a field annotated
    ``annotation``: ``list[M]``, ``tuple[M, ...]``, ``dict[str, M]`` (or ``... | None``)."""
    arms = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()
    for arm in arms or (annotation,):
        origin, args = get_origin(arm), get_args(arm)
        if not isinstance(origin, type) or not args:
            continue
        if isinstance(key, int) and issubclass(origin, Sequence) and not issubclass(origin, str):
            found = _as_model(args[0])
        elif isinstance(key, str) and issubclass(origin, Mapping) and len(args) == 2:
            found = _as_model(args[1])
        else:
            continue
        if found is not None:
            return found
    return None


def _target(model: type[BaseModel], fname: str, rest: list) -> tuple[type[BaseModel], str]:
    """The innermost (model, field name) that the location's ``rest`` (after field
    ``fname`` of ``model``) reaches through nested tables, list items and table values."""
    i = 0
    while i < len(rest):
        info = model.model_fields.get(fname)
        ann = info.annotation if info is not None else None
        key = rest[i]
        sub = _as_model(ann)
        inner = _item_model(ann, key)
        if isinstance(key, str) and key != "[key]" and sub is not None:
            model, fname, i = sub, key, i + 1
        elif (inner is not None and i + 1 < len(rest) and isinstance(rest[i + 1], str)
              and rest[i + 1] != "[key]"):  # fmt: skip
            model, fname, i = inner, str(rest[i + 1]), i + 2
        else:
            break
    return model, fname


def validation_line(where: str, model: type[BaseModel], err: ValidationError) -> str:
    """One line for the first error of a pydantic ValidationError of ``model``:
    ``where: field 'x'[, item n | key k]: what was expected, got value (description)``;
    nested models' fields are dotted (``'daq.resource'``); an unknown field is reported
    first (it explains a "missing" one) with the allowed names: those of the model it
    was found in (a list item's or a table value's, e.g. a ``[[channels]]`` entry's)."""
    # an unknown field explains a "missing" one (a misspelling), so report it first
    errors = sorted(err.errors(), key=lambda x: x["type"] != "extra_forbidden")
    e = errors[0]
    loc = e["loc"]
    fname = str(loc[0]) if loc else "?"
    rest = list(loc[1:])
    path = [fname]
    while rest and isinstance(rest[0], str) and rest[0] != "[key]":  # a nested model's field
        sub = model.model_fields[fname].annotation if fname in model.model_fields else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            break
        if rest[0] not in sub.model_fields and e["type"] != "extra_forbidden":
            break
        model, fname = sub, str(rest.pop(0))
        path.append(fname)
    detail = ""
    if rest and rest[-1] == "[key]":
        detail = f", key {rest[-2]!r}"
    elif rest:
        parts = [f"item {p + 1}" if isinstance(p, int) else f"entry {p!r}" for p in rest]
        detail = ", " + ", ".join(parts)
    model, fname = _target(model, fname, rest)  # inside list items and table values
    field_info = model.model_fields.get(fname)
    hint = f" ({field_info.description})" if field_info and field_info.description else ""
    if e["type"] == "extra_forbidden":
        close = difflib.get_close_matches(fname, model.model_fields, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        allowed = ", ".join(model.model_fields)
        text = f"unknown field{guess}; allowed fields: {allowed}"
    elif e["type"] == "missing":
        text = f"required field is missing{hint}"
    elif rest and rest[-1] == "[key]" and e["type"] == "int_parsing":
        text = f"expected a node number, got {short_repr(e.get('input'))}{hint}"
    else:
        msg = e["msg"]
        if msg.startswith("Input should be "):
            msg = "expected " + msg[len("Input should be ") :]
        if msg.startswith(("expected greater", "expected less")):
            msg = msg.replace("expected ", "expected a value ", 1)
        text = f"{msg}, got {short_repr(e.get('input'))}{hint}"
    n_more = len(errors) - 1
    more = f" (+{n_more} more error{'s' if n_more > 1 else ''})" if n_more else ""
    return f"{where}: field {'.'.join(path)!r}{detail}: {text}{more}"


__all__ = ["ConfigError", "one_line", "short_repr", "validation_line"]
