"""The fast YAML reader: the plain YAML that registries and attestation files are written
in, read row by row, equal to PyYAML's reading or declined (see `_FastReader`).

One cohesive thing, longer than most modules: a reader of a YAML subset whose every rule
is there to say exactly when it may answer and when it must leave the text to PyYAML
(`yamlsrc._loads_pyyaml`); tests/test_yaml_speed.py checks it against PyYAML.
"""

from __future__ import annotations

import gc
import json
import re
from itertools import accumulate
from typing import Any

import yaml

from . import yamlsrc
from .yamlsrc import _LOADER, _PLAIN_INT, Path_

# ------------------------------------------------------------------------------- fast reader
#
# PyYAML needs seconds for a registry of ten thousand tokens (a Python object with two marks
# per node, then a Python walk). Registries and attestation files are written in a small,
# plain part of YAML; `_FastReader` reads exactly that part and gives up (returns None) on
# anything else, on any error and on anything it is unsure of: PyYAML then reads the document
# as before, errors and all. What it accepts:
#
# - spaces for indentation (no tab anywhere), `\n` or `\r\n` line ends, printable characters;
# - block mappings and sequences, `- key: value` compact mappings, sequences at their key's
#   indentation; comments after whitespace;
# - flow collections `[...]` and `{...}` on one line, or spanning lines when they are the whole
#   document (JSON);
# - scalars on one line: plain, single-quoted, double-quoted without backslash escapes.
#
# Not accepted (PyYAML reads these): anchors, aliases, tags, block scalars (`|`, `>`),
# multi-line scalars, `?` keys, directives and `---`/`...` markers, escapes, trailing commas
# and empty values in flow collections, `:` or `?` inside flow plain scalars, keys of 1000 or
# more characters (libyaml's limit for implicit keys is 1024), duplicate keys, `<<`, keys that
# are not strings or integers, ambiguous numbers (the last four are errors PyYAML reports).
#
# Plain scalars are typed by PyYAML's own resolver and constructor (the YAML 1.1 rules of
# SafeLoader: yes/no/on/off, ~, 1.5, timestamps), called on the same text; a plain scalar whose
# first character starts no implicit resolver is a string, as PyYAML's resolver decides.

_FIRST = r"[^ \n\-?:,\[\]{}#&*!|>'\"%@`]"  # a plain scalar starts with none of the indicators
# After the first character: runs of ordinary characters, joined by spaces (never trailing)
# or, in a block value, by a ':' that a space does not follow. Written so that every text
# splits one way only (no nested quantifier over the same characters, no slow backtracking).
# No class matches a line break: a match never leaves its row.
_PLAIN_KEY = r"(?:" + _FIRST + r"|-(?=[^ \n:#\[\]{}]))[^ \n:#\[\]{}]*(?:[ ]+[^ \n:#\[\]{}]+)*"
_PLAIN_VALUE = (  # in a block value, [ ] { } are ordinary after the first character: ${VAR}
    r"(?:" + _FIRST + r"|-(?=[^ \n:#\[\]{}]))[^ \n:#]*"
    r"(?:(?::(?=[^ \n])|[ ]+(?=[^ \n:#]))[^ \n:#]*)*"
)
_PLAIN_FLOW = (
    r"(?:[^ \n\-?:,\[\]{}#&*!|>'\"%@`]|-(?=[^ \n:#,\[\]{}?]))"
    r"[^ \n:#,\[\]{}?]*(?:[ ]+[^ \n:#,\[\]{}?]+)*"
)
_DQ = r'"[^"\\\n]*"'  # quotes included: an empty scalar is still a non-empty group
_SQ = r"'(?:[^'\n]|'')*'"
#: Every row of a block document, one match each (with `^`: a row that does not match
#: leaves a gap before the next match): (indent) then blank or comment, or (dash) (key: plain,
#: double-, single-quoted) then (a flow collection to the end of the row) or a scalar (plain,
#: double-, single-quoted) or nothing, then an optional comment.
_ROWS = re.compile(
    r"^( *)(?:(?:#.*)?|(-(?: +|$))?"
    r"(?:(?:(" + _PLAIN_KEY + r")|(" + _DQ + r")|(" + _SQ + r"))[ ]*:(?: +|$))?"
    r"(?:([\[{].*)|(?:(" + _PLAIN_VALUE + r")|(" + _DQ + r")|(" + _SQ + r"))?"
    r"[ ]*(?:(?<=[ ])#.*)?))$",
    re.MULTILINE,
)
#: blank and comment rows, then the indentation of the first row with content
_FIRST_CONTENT = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*[ ]*(?=[^ \n#])")
#: the tokens of flow collections, every character in one: (spaces before it, indicator,
#: "double-quoted", 'single-quoted', plain, comment, end of row: "\n" or "" at the end, other)
_FLOW_TOKENS = re.compile(
    r"([ ]*)(?:([\[\]{},:])|(" + _DQ + r")|(" + _SQ + r")|(" + _PLAIN_FLOW + r")"
    r"|((?:(?<=[ \n])|^)#[^\n]*)?(\n|\Z)|(.))"
)
_NOT_PLAIN_FIRST = frozenset("-?:,[]{}#&*!|>'\"%@`")
_UNPRINTABLE = re.compile(
    "[^\n -~\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
)
_MAX_KEY = 1000
_MAX_DEPTH = 100
#: a key's closing quote, then a line break or 8 spaces or more before its colon (without
#: backslashes, every '"' of a JSON text delimits a string)
_JSON_KEY_GAP = re.compile(r'"[ \r]*\n[ \r\n]*:|" {8,}:')
#: what is not a bracket; each bracket's step in depth
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MERGE = "tag:yaml.org,2002:merge"
_MISSING = object()


class _Unsupported(Exception):
    """Raised inside `_FastReader`: PyYAML reads this document."""


class _FastReader:
    """Read a document of the plain subset (see above) into data and `SourceMap.lines`.

    The lines give what `_Converter`'s do through `SourceMap.line`, for every path: a mapping
    value has its key's line, a sequence item and the document the line they start on, and
    ``(*mapping, "<key>")`` the line of the mapping's first key. Inside flow collections a
    node on the same line as its nearest recorded ancestor is not recorded (`line` finds it
    there), so a one-line ``{...}`` costs no entries.
    """

    def __init__(self, text: str, record_lines: bool = True) -> None:
        self.text = text
        #: without it, a block document's lines are not recorded (`lines_complete` is False)
        self.record_lines = record_lines
        self.lines_complete = True
        #: read by json's parser (`_json_document`): `count` is then a bound, not the count
        self.json = False
        self.lines: dict[Path_, int] = {}
        self.count = 0
        self.cache: dict[str, Any] = {}
        self.risky: frozenset[str] = frozenset()
        self.resolver: Any = None
        self.constructor: Any = None

    def read(self) -> tuple[Any, dict[Path_, int]] | None:
        collecting = gc.isenabled()
        gc.disable()  # the data has no cycles; collecting while it grows only costs time
        try:
            return self._document()
        except (_Unsupported, RecursionError):
            return None
        finally:
            if collecting:
                gc.enable()

    # -- scalars

    def _resolve(self, text: str) -> Any:
        """A plain scalar that may not be a string, typed as PyYAML types it."""
        value = self.cache.get(text, _MISSING)
        if value is not _MISSING:
            return value
        if self.resolver is None:
            self.resolver = _LOADER("")
            self.constructor = yaml.SafeLoader("")
        tag = self.resolver.resolve(yaml.ScalarNode, text, (True, False))
        if tag == _STR:
            value = text
        elif tag == _MERGE or (tag == _INT and not _PLAIN_INT.fullmatch(text)):
            raise _Unsupported  # an error: PyYAML reports it
        else:
            try:
                value = self.constructor.construct_object(yaml.ScalarNode(tag, text), deep=True)
            except Exception:
                raise _Unsupported from None
        self.cache[text] = value
        return value

    def _key(self, text: str) -> Any:
        """A plain scalar as a mapping key: a string or an integer, as `_Converter` allows."""
        key = self._resolve(text) if text[0] in self.risky else text
        if (type(key) is not str and type(key) is not int) or len(text) >= _MAX_KEY:
            raise _Unsupported
        return key

    # -- the document

    def _document(self) -> tuple[Any, dict[Path_, int]]:
        text = self.text
        if "\r" in text:
            if text.count("\r") != text.count("\r\n"):
                raise _Unsupported
            text = text.replace("\r\n", "\n")
        if "\t" in text:
            raise _Unsupported
        if text.isascii():
            if not text.replace("\n", "").isprintable():
                raise _Unsupported
        elif _UNPRINTABLE.search(text):
            raise _Unsupported
        if text.startswith(("---", "...", "%")) or any(
            mark in text for mark in ("\n---", "\n...", "\n%")
        ):
            raise _Unsupported  # directives, document markers
        resolvers = _LOADER.yaml_implicit_resolvers
        if None in resolvers or _LOADER.yaml_path_resolvers:
            raise _Unsupported
        self.risky = risky = frozenset(resolvers)
        resolve = self._resolve
        key_of = self._key
        flow_row = self._flow_row
        lines = self.lines
        record = self.record_lines
        self.lines_complete = record
        first = _FIRST_CONTENT.match(text)
        if first is None:
            raise _Unsupported  # empty: PyYAML says so
        if text[first.end()] in "[{":
            if not record and (data := self._json_document(text)) is not _MISSING:
                return data, lines
            return self._flow_document(text, text.count("\n", 0, first.end()))
        null = resolve("")

        root: Any = _MISSING
        stack: list[tuple[Any, ...]] = []
        # the innermost open block collection: column, is a sequence, container, path, is a
        # sequence at its key's column (ends at the first row that is not an item)
        t_col = -1
        t_seq = False
        t_cont: Any = None
        t_path: Path_ = ()
        t_indentless = False
        # an empty value waiting for the rows below: container, key or index, path, column
        # of its collection, is a mapping value
        pending: tuple[Any, Any, Path_, int, bool] | None = None
        item_path: Path_ = ()
        key_path: Path_ = ()
        count = 0
        start = 0  # where the next row starts
        for r, m in enumerate(_ROWS.finditer(text)):
            if m.start() != start:
                raise _Unsupported  # the row before is not of the subset
            start = m.end() + 1
            indent, dash, kp, kd, ks, flow, vp, vd, vs = m.groups()
            if not (dash or kp or kd or ks or flow or vp or vd or vs):
                continue  # blank or comment
            col = len(indent)
            if root is _MISSING:  # the first row of the document
                root = [] if dash else {}
                lines[()] = r + 1
                t_col, t_seq, t_cont = col, bool(dash), root
                count += 1
            elif pending is not None:
                pc, pk, ppath, pcol, pmap = pending
                pending = None
                if col > pcol or (pmap and col == pcol and dash):
                    # the rows from here are the value: a block collection
                    if len(stack) > _MAX_DEPTH:
                        raise _Unsupported
                    if record and not pmap:
                        lines[ppath] = r + 1  # a sequence item starts where its value does
                    stack.append((t_col, t_seq, t_cont, t_path, t_indentless))
                    t_indentless = col == pcol
                    t_col, t_seq, t_path = col, bool(dash), ppath
                    t_cont = [] if dash else {}
                    pc[pk] = t_cont
                    count += 1
                else:
                    pc[pk] = null
                    count += 1
            if col != t_col or (t_indentless and not dash):
                while col < t_col or (col == t_col and t_indentless and not dash):
                    if not stack:
                        raise _Unsupported
                    t_col, t_seq, t_cont, t_path, t_indentless = stack.pop()
                if col != t_col:
                    raise _Unsupported  # a continuation line, or an error: PyYAML decides
            if t_seq:
                if not dash:
                    raise _Unsupported
                if record:
                    item_path = (*t_path, len(t_cont))
                    lines[item_path] = r + 1
                if not (kp or kd or ks):
                    if vp:
                        t_cont.append(vp if vp[0] not in risky else resolve(vp))
                        count += 1
                    elif vd:
                        t_cont.append(vd[1:-1])
                        count += 1
                    elif vs:
                        t_cont.append(vs[1:-1].replace("''", "'"))
                        count += 1
                    elif flow:
                        t_cont.append(flow_row(flow))
                    else:
                        t_cont.append(null)
                        pending = (t_cont, len(t_cont) - 1, item_path, t_col, False)
                    continue
                # `- key: ...`: a mapping at the key's column
                if len(stack) > _MAX_DEPTH:
                    raise _Unsupported
                stack.append((t_col, t_seq, t_cont, t_path, t_indentless))
                t_cont.append({})
                t_col, t_seq, t_path, t_indentless = col + len(dash), False, item_path, False
                t_cont = t_cont[-1]
                count += 1
            elif dash or not (kp or kd or ks):
                raise _Unsupported
            # a mapping entry
            if kp:
                key = kp if kp[0] not in risky and len(kp) < _MAX_KEY else key_of(kp)
            elif kd:
                key = kd[1:-1]
            else:
                key = ks[1:-1].replace("''", "'")
            if len(kd or ks or "") >= _MAX_KEY:
                raise _Unsupported
            if not t_cont:
                if record:
                    lines.setdefault((*t_path, "<key>"), r + 1)
            elif key in t_cont:
                raise _Unsupported
            if record:
                key_path = (*t_path, key)
                lines[key_path] = r + 1
            count += 1
            if vp:
                t_cont[key] = vp if vp[0] not in risky else resolve(vp)
                count += 1
            elif vd:
                t_cont[key] = vd[1:-1]
                count += 1
            elif vs:
                t_cont[key] = vs[1:-1].replace("''", "'")
                count += 1
            elif flow:
                t_cont[key] = flow_row(flow)
            else:
                t_cont[key] = null
                pending = (t_cont, key, key_path, t_col, True)
        if start != len(text) + 1:
            raise _Unsupported  # the last rows are not of the subset
        if root is _MISSING:
            raise _Unsupported  # empty: PyYAML says so
        if pending is not None:
            count += 1
        self.count += count
        if self.count > yamlsrc.MAX_NODES:
            raise _Unsupported
        return root, lines

    # -- flow collections

    def _flow_row(self, part: str) -> Any:
        """The flow collection `part` (from its opening bracket to the end of its row, so
        every node in it is on that row: none is recorded in the lines)."""
        if (
            "#" not in part
            and "'" not in part
            and "\\" not in part
            and "?" not in part
            and " :" not in part
            and part.count(":") == part.count(": ")
        ):
            try:
                cut = (
                    part.replace("[", "\0[\0")
                    .replace("]", "\0]\0")
                    .replace("{", "\0{\0")
                    .replace("}", "\0}\0")
                    .replace(",", "\0,\0")
                    .replace(":", "\0:\0")
                )  # cut before and after each indicator (the text has no NUL)
                return self._flow_simple(cut.split("\0"))
            except _Unsupported:
                pass  # the general reading below decides
        tokens = _FLOW_TOKENS.findall(part)
        value, i, _ = self._flow(tokens, 0, 0, (), 0, False)
        self._rest(tokens, i)
        return value

    def _flow_simple(self, pieces: list[str]) -> Any:
        """A one-row flow collection without comments, single quotes, backslashes or '?', with
        ': ' for every ':', cut at its indicators: ``["", indicator, text, indicator, ...]``
        where each text must be nothing or one scalar."""
        risky = self.risky
        resolve = self._resolve
        stack: list[tuple[Any, ...]] = []
        count = 0
        # as in `_flow`: container, is a mapping, state, pending key
        cont: Any = None
        is_map = False
        state = 2
        key: Any = None
        rest = iter(pieces)
        if next(rest):
            raise _Unsupported  # something before the opening bracket
        for indicator, text in zip(rest, rest, strict=True):
            if indicator == ",":
                if state != 1:
                    raise _Unsupported
                state = 4 if is_map else 2
            elif indicator == ":":
                if state != 3:
                    raise _Unsupported
                state = 2
            elif indicator == "[" or indicator == "{":
                if len(stack) > _MAX_DEPTH or state == 1 or (is_map and state != 2):
                    raise _Unsupported
                stack.append((cont, is_map, key))
                count += 1
                child: Any = {} if indicator == "{" else []
                if cont is not None:
                    if is_map:
                        cont[key] = child
                    else:
                        cont.append(child)
                cont, is_map, state = child, indicator == "{", 0
            else:  # a closing bracket: no trailing comma, no key without a value
                if indicator != ("}" if is_map else "]") or (state != 0 and state != 1):
                    raise _Unsupported
                value = cont
                cont, is_map, key = stack.pop()
                if cont is None:
                    if text.strip(" ") or next(rest, None) is not None:
                        raise _Unsupported
                    self.count += count
                    return value
                state = 1
            if text:
                text = text.strip(" ")
            if text:
                first = text[0]
                typed = False
                if first == '"':  # one double-quoted scalar, nothing around it
                    if len(text) < 2 or text[-1] != '"' or text.count('"') != 2:
                        raise _Unsupported
                    value = text[1:-1]
                elif (
                    first in _NOT_PLAIN_FIRST and (first != "-" or len(text) == 1 or text[1] == " ")
                ) or '"' in text:
                    raise _Unsupported
                elif first in risky:
                    value = resolve(text)
                    typed = True
                else:
                    value = text
                count += 1
                if state == 2 or (state == 0 and not is_map):  # a value, or an item
                    if is_map:
                        cont[key] = value
                    else:
                        cont.append(value)
                    state = 1
                elif is_map and (state == 0 or state == 4):  # a key
                    if (
                        len(text) >= _MAX_KEY
                        or (typed and (type(value) is not str and type(value) is not int))
                        or value in cont
                    ):
                        raise _Unsupported
                    key = value
                    state = 3
                else:
                    raise _Unsupported
        raise _Unsupported  # not closed

    def _json_document(self, text: str) -> Any:
        """A JSON document read by json's C parser, where that reading is PyYAML's: no
        backslash escapes, no number but integers (PyYAML reads `1e5` as a string), no
        duplicate keys, keys under `_MAX_KEY`, no line break (nor a long run of spaces)
        between a key and its colon (YAML's implicit keys are on one line, of at most 1024
        characters), nested at most `_MAX_DEPTH` deep. Anything
        else, or text that is not JSON, is `_MISSING`: the flow reader below decides. Lines
        are not recorded (`lines_complete` is False): an error's line is found by reading
        the text again with them (`yamlsrc._lines_of`). 60 ms -> 10 ms for an attestation
        file of 10,000 holdings."""
        if "\\" in text or _JSON_KEY_GAP.search(text):
            return _MISSING

        def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            out = dict(pairs)
            if len(out) != len(pairs) or any(len(k) >= _MAX_KEY for k in out):
                raise _Unsupported  # duplicate keys are PyYAML's error to report
            return out

        def refuse(_text: str) -> Any:
            raise _Unsupported

        try:
            data = json.loads(
                text, object_pairs_hook=mapping, parse_float=refuse, parse_constant=refuse
            )
        except (ValueError, RecursionError, _Unsupported):
            return _MISSING
        # bounds from the text alone (a bracket or comma inside a string only makes them
        # higher, which only sends the text to the flow reader): the depth, and the nodes as
        # the flow reader counts them (collections, keys, scalars)
        brackets = _NOT_BRACKETS.sub("", text)
        if (
            len(brackets) > _MAX_DEPTH
            and max(accumulate(map(_BRACKET_STEP.__getitem__, brackets))) > _MAX_DEPTH
        ):
            return _MISSING
        bound = 2 * (len(brackets) + text.count(":") + text.count(",")) + 1
        if self.count + bound > yamlsrc.MAX_NODES:
            return _MISSING  # maybe too large: the flow reader counts exactly
        self.count += bound
        self.lines_complete = False
        self.json = True
        return data

    def _flow_document(self, text: str, row: int) -> tuple[Any, dict[Path_, int]]:
        """A document that is one flow collection from row `row` on, over as many rows as it
        likes (JSON)."""
        self.lines[()] = row + 1
        self.lines_complete = True  # recorded whatever `record_lines` says: nearly free here
        rows = text.split("\n")
        first = rows[row].lstrip(" ")
        if all(not line.strip(" ") or line.lstrip(" ")[0] == "#" for line in rows[row + 1 :]):
            value = self._flow_row(first)
        else:
            start = sum(len(line) + 1 for line in rows[:row]) + len(rows[row]) - len(first)
            tokens = _FLOW_TOKENS.findall(text, start)
            value, i, _ = self._flow(tokens, 0, row, (), row, True)
            self._rest(tokens, i)
        if self.count > yamlsrc.MAX_NODES:
            raise _Unsupported
        return value, self.lines

    @staticmethod
    def _rest(tokens: list[tuple[str, ...]], i: int) -> None:
        """After the flow collection: nothing but comments and row ends."""
        for _, indicator, dq, sq, plain, _, _, other in tokens[i:]:
            if indicator or dq or sq or plain or other:
                raise _Unsupported

    def _flow(
        self,
        tokens: list[tuple[str, ...]],
        i: int,
        row: int,
        path: Path_,
        path_row: int,
        multiline: bool,
    ) -> tuple[Any, int, int]:
        """The flow collection opened by ``tokens[i]`` (a `_FLOW_TOKENS` match on `row`), whose
        path's line is `path_row`: (value, index of the next token, row it closes on)."""
        lines = self.lines
        risky = self.risky
        resolve = self._resolve
        stack: list[tuple[Any, ...]] = []
        count = 0
        # the collection being read: container, path, the line `SourceMap.line` gives its path,
        # is a mapping, state, and the pending key with its row. States: 0 opened, 1 after an
        # item or a value, 2 after a ',' in a sequence or a ':' in a mapping, 3 after a key,
        # 4 after a ',' in a mapping
        cont: Any = None
        cpath = path
        crow = path_row
        is_map = False
        state = 2
        key: Any = None
        key_row = 0
        key_plain = False
        key_len = 0
        while True:
            spaces, indicator, dq, sq, plain, _comment, newline, other = tokens[i]
            i += 1
            if other:
                raise _Unsupported
            if indicator:
                if indicator == ",":
                    if state != 1:
                        raise _Unsupported
                    state = 4 if is_map else 2
                    continue
                if indicator == ":":
                    if state != 3 or row != key_row or len(spaces) + key_len >= _MAX_KEY:
                        raise _Unsupported
                    state = 2
                    continue
                if indicator == "[" or indicator == "{":
                    if len(stack) > _MAX_DEPTH:
                        raise _Unsupported
                    if cont is None:
                        child_path, child_row = cpath, crow
                    elif is_map:
                        if state != 2 or (key_plain and not spaces):
                            raise _Unsupported
                        child_path, child_row = (*cpath, key), key_row
                    else:
                        if state == 1:
                            raise _Unsupported
                        child_path, child_row = (*cpath, len(cont)), row
                        if row != crow:
                            lines[child_path] = row + 1
                    stack.append((cont, cpath, crow, is_map, state, key, key_row, key_plain))
                    count += 1
                    child: Any = {} if indicator == "{" else []
                    if cont is not None:
                        if is_map:
                            cont[key] = child
                            if key_row != crow or key == "<key>":
                                lines[child_path] = key_row + 1
                        else:
                            cont.append(child)
                    cont, cpath, crow, is_map = child, child_path, child_row, indicator == "{"
                    state = 0
                    continue
                # a closing bracket: no trailing comma, no key without a value
                if indicator != ("}" if is_map else "]") or (state != 0 and state != 1):
                    raise _Unsupported
                value = cont
                cont, cpath, crow, is_map, state, key, key_row, key_plain = stack.pop()
                if cont is None:
                    self.count += count
                    return value, i, row
                state = 1
                continue
            if dq or sq or plain:
                if plain:
                    value = plain if plain[0] not in risky else resolve(plain)
                elif dq:
                    value = dq[1:-1]
                else:
                    value = sq[1:-1].replace("''", "'")
                count += 1
                if not is_map:
                    if state == 1:
                        raise _Unsupported
                    if row != crow:
                        lines[(*cpath, len(cont))] = row + 1
                    cont.append(value)
                    state = 1
                elif state == 2:  # a value
                    if key_plain and not spaces:
                        raise _Unsupported
                    cont[key] = value
                    if key_row != crow or key == "<key>":
                        lines[(*cpath, key)] = key_row + 1
                    state = 1
                elif state == 0 or state == 4:  # a key
                    key = value
                    if plain:
                        if type(key) is not str and type(key) is not int:
                            raise _Unsupported
                        key_len, key_plain = len(plain), True
                    else:
                        key_len, key_plain = len(dq or sq), False
                    if not cont:
                        if row != crow:
                            lines.setdefault((*cpath, "<key>"), row + 1)
                    elif key in cont:
                        raise _Unsupported
                    key_row = row
                    state = 3
                else:
                    raise _Unsupported
                continue
            # the end of a row: only a document that is one flow collection goes on
            if not newline or not multiline or (is_map and (state == 2 or state == 3)):
                raise _Unsupported
            row += 1
