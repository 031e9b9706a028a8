"""The fast YAML reader against PyYAML, the reference it must equal.

`yamlsrc.loads` reads a document with `_FastReader` when it can and with PyYAML otherwise.
For any text the fast reader either declines (None: PyYAML reads it, errors and all) or
gives exactly PyYAML's data (same types, same key order) and, through `SourceMap.line`, the
same line for every path, existing or not, and counts the same nodes. These tests check that
on every document the other tests use, on documents generated in many styles and on random
edits of them; and that plain registries and attestation files do take the fast path, in
time linear in their size.
"""

from __future__ import annotations

import json
import math
import random
import string
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import test_custody
import test_registry
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from xstock_audit import registry, yamlfast, yamlsrc
from xstock_audit.errors import InputError

NAME = "doc.yaml"
ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------- the oracle


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types everywhere (``1 == True == 1.0`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (
            len(a) == len(b)
            and all(type(x) is type(y) and x == y for x, y in zip(a, b, strict=True))
            and all(same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def reference(text: str) -> tuple[Any, yamlsrc.SourceMap] | BaseException:
    try:
        return yamlsrc._loads_pyyaml(text, NAME)
    except Exception as exc:  # an InputError, or whatever PyYAML itself raises
        return exc


def pyyaml_count(text: str) -> int:
    conv = yamlsrc._Converter(NAME)
    conv.convert(yaml.compose(text, Loader=yamlsrc._LOADER), ())
    return conv.count


def agree(text: str) -> bool:
    """Assert the fast reader declines `text` or reads it exactly as PyYAML does; return
    whether it read it."""
    reader = yamlfast._FastReader(text)
    fast = reader.read()
    # `loads` reads without recording lines (a JSON document through json's parser) and
    # records them when first asked for
    lean = yamlfast._FastReader(text, record_lines=False)
    lean_read = lean.read()
    if fast is None and lean_read is None:
        return False
    ref = reference(text)
    assert not isinstance(ref, BaseException), f"read what PyYAML rejects ({ref!r}): {text!r}"
    data, smap = ref
    nodes = pyyaml_count(text)
    if fast is not None:
        assert same(fast[0], data), f"different data for {text!r}: {fast[0]!r} != {data!r}"
        fmap = yamlsrc.SourceMap(NAME, fast[1])
        for path in smap.lines:
            for q in (path, (*path, "no-such-key"), (*path, 10**9)):
                assert fmap.line(q) == smap.line(q), f"line of {q} in {text!r}"
        assert reader.count == nodes, f"node count of {text!r}"
    assert lean_read is not None, f"read with lines, declined without: {text!r}"
    assert same(lean_read[0], data), f"different data for {text!r}: {lean_read[0]!r} != {data!r}"
    # the JSON path bounds the count from the text (`_json_document`); the others count it
    assert lean.count >= nodes if lean.json else lean.count == nodes, f"node count of {text!r}"
    public_data, public_map = yamlsrc.loads(text, NAME)
    assert same(public_data, data)
    for path in smap.lines:
        for q in (path, (*path, "no-such-key")):
            assert public_map.line(q) == smap.line(q), f"line of {q} in {text!r}, lazily"
    return True


# --------------------------------------------------------------- the documents of the tests


def _documents_of_the_tests() -> Iterator[str]:
    for module in (test_registry, test_custody):
        for value in vars(module).values():
            if isinstance(value, str) and "\n" in value:
                yield value
        for case in module.CASES:
            if isinstance(case.content, str):
                yield case.content
    for param in test_registry.CRASHERS:
        (chains,) = param.values
        yield (
            "version: 1\n"
            + chains
            + "\ncustodians:\n  c:\n    attestations: [a.json]\n    max_age: 1h\n"
            + "tokens: []\n"
        )
    files = [
        *ROOT.glob("examples/**/*.yaml"),
        *ROOT.glob("examples/**/*.json"),
        *(ROOT / "tests" / "data").glob("**/*.yaml"),
        *(ROOT / "tests" / "data").glob("**/*.json"),
    ]
    for path in sorted(files):
        yield path.read_text(encoding="utf-8")


DOCUMENTS = list(_documents_of_the_tests())


def test_every_document_of_the_tests() -> None:
    assert len(DOCUMENTS) > 100
    read = sum(agree(text) for text in DOCUMENTS)
    assert read > len(DOCUMENTS) / 2  # most of them are plain


@pytest.mark.parametrize(
    "text",
    [
        test_registry.VALID,
        test_registry.VALID + test_registry.SECOND_TOKEN,
        test_custody.JSON,
        test_custody.YAML,
        (ROOT / "examples" / "xstocks.yaml").read_text(encoding="utf-8"),
        test_custody.JSON.replace("\n", "\r\n"),
        json.dumps(json.loads(test_custody.JSON)),  # one row
        json.dumps(json.loads(test_custody.JSON), separators=(",", ":")),  # compact
    ],
)
def test_plain_documents_take_the_fast_path(text: str) -> None:
    assert agree(text)


# ---------------------------------------------------------------------------- edge cases

EDGES = [
    # flow collections
    "{a:b}\n",
    "{a: b}\n",
    "[a:b]\n",
    "[a, b,]\n",
    "{a: 1,}\n",
    "{a, b: 1}\n",
    "{a: }\n",
    "[a b, c  d]\n",
    '{"a":1, "b":[1,2]}\n',
    '{"a" :1}\n',
    '{"a"\n: 1}\n',
    "[a\n, b]\n",
    "[a\nb]\n",
    "k: [a,\n  b]\n",
    "[-1, -, - a, -a]\n",
    "[a#b]\n",
    "[a #b\n]\n",
    "[a, # c\n b]\n",
    "{? a: b}\n",
    "[a?b, ?a]\n",
    "[[[]]]\n",
    "{a: {b: {c: [d, {e: f}]}}}\n",
    "k: {a: 1} # c\n",
    "k: {a: 1}#c\n",
    "k: {a: 1} x\n",
    '["a", "b" "c"]\n',
    '["a""b"]\n',
    "['it''s', 'x']\n",
    '{"a": "b, c"}\n',
    '{"a": "x: y"}\n',
    '["http://a.invalid:1/x"]\n',
    "{1: a, 2: b}\n",
    "{1: a, '1': b}\n",
    "{a: 1, a: 2}\n",
    "{<<: {a: 1}}\n",
    "{yes: 1}\n",
    "[0x10]\n",
    '{"a": 1e5, "b": 1.5e+3, "c": -0, "d": 1E5}\n',
    "[true, false, null, ~, 'null', \"~\"]\n",
    # block collections
    "a: b\n  c\n",
    "a: b\n  c: d\n",
    "a:\n  b\n",
    "a:\nb: 1\n",
    "a:\n- x\n- y\nb: 1\n",
    "a:\n  - x\n  b: 1\n",
    "- a: 1\n  b: 2\n- c: 3\n",
    "- a: 1\n   b: 2\n",
    "- a: 1\n b: 2\n",
    "-   a: 1\n    b: 2\n",
    "- - a\n",
    "-\n  a: 1\n",
    "-\n- b\n",
    "- # c\n  - a\n",
    "-#c\n",
    "- a:\n  - x\n",
    "a: - b\n",
    "a: -\n",
    "a: -1\n",
    "a: b: c\n",
    "a:b: c\n",
    "a : b\n",
    "a: b # c\n",
    "a: b# c\n",
    "a: b #c: d\n",
    "a: 'b' c\n",
    'a: "b"#c\n',
    "'a': 1\n\"b\": 2\n",
    "'': 1\n",
    "a: ''\nb: \"\"\n",
    "? a\n: b\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  x\n",
    "a: >\n  x\n",
    'a: "x\\ty"\n',
    'a: "x\n  y"\n',
    "a: 'x\n  y'\n",
    "a: x\n\n  y\n",
    "---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "a: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "  a: 1\n  b: 2\n",
    "  a: 1\nb: 2\n",
    "a:\n    b: 1\n  c: 2\n",
    "a:\n  b:\n    c:\n      d: [1]\n  e: 2\n",
    "x" * 1100 + ": 1\n",
    "a: " + "x" * 5000 + "\n",
    "{" + "x" * 1100 + ": 1}\n",
    # scalars and types
    "a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\n",
    "a: ~\nb: null\nc: Null\nd: NULL\ne:\n",
    "a: 0x10\n",
    "a: 010\n",
    "a: 0o17\n",
    "a: 1_000\n",
    "a: 1:30\n",
    "a: +1\nb: -0\nc: 0\nd: 12345678901234567890\n",
    "a: 1.5\nb: .5\nc: 1.\nd: 1e5\ne: 1.0e+5\nf: .inf\ng: -.Inf\nh: .NaN\n",
    "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10 -5\n",
    "a: 2001-02-30\n",
    "a: 2026-11-20T23:59:59Z\n",
    "a: =\n",
    "a: <<\n",
    "<<: {a: 1}\n",
    "1.5: x\n",
    "yes: 1\n",
    "1: a\n'1': b\n",
    "a: 1\na: 2\n",
    "a: x:y\nb: http://h.invalid:8545/p\n",
    "a: @x\n",
    "a: `x\n",
    "a: %x\n",
    "a: x%y@z`\n",
    "a: Soci\u00e9t\u00e9 G\u00e9n\u00e9rale\n",
    "a: x\u00a0y\n",
    "a: x\u2028y\n",
    "a: \ufeffx\n",
    "a: x\x7fy\n",
    "a: x\x00y\n",
    "a: x\ty\n",
    "\ta: 1\n",
    "a: 1\r\nb: 2\r\n",
    "a: 1\rb: 2\n",
    # documents
    "",
    "\n\n",
    "# only a comment\n",
    "just a string\n",
    "'just a string'\n",
    "[]\n",
    "{}\n",
    "# c\n{a: 1}\n# d\n",
    "{a: 1}\nb: 2\n",
    "{a: 1}\n{b: 2}\n",
    "a: 1",
    "a: 1\n\n\n",
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_agree(text: str) -> None:
    agree(text)


def test_node_limit_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # a mapping, 3 keys and 3 values: 7 nodes; 8 with a one-item list
    for text, nodes in (
        ("a: 1\nb: 2\nc: 3\n", 7),
        ("a: 1\nb: 2\nc: [3]\n", 8),
        ('{"a": 1, "b": 2, "c": [3]}\n', 8),
    ):
        assert pyyaml_count(text) == nodes
        for limit in range(nodes - 2, nodes + 3):
            monkeypatch.setattr(yamlsrc, "MAX_NODES", limit)
            assert agree(text) == (nodes <= limit)
            if nodes > limit:
                with pytest.raises(InputError, match="too large"):
                    yamlsrc.loads(text, NAME)


# ------------------------------------------------------------------- generated documents

#: scalars whose meaning differs between YAML 1.1, YAML 1.2, JSON and a careless reader
TRICKY = [
    "yes", "Yes", "NO", "on", "Off", "y", "n", "true", "False", "~", "null", "Null", "",
    "0", "-0", "+1", "007", "0x1F", "0o17", "0b101", "1_000", "1:30", "190:20:30", "12",
    "1.5", "-1.5", "1e5", "1.0e+5", ".5", "1.", ".inf", "-.Inf", ".NaN", "2001-12-14",
    "2001-12-14t21:59:43.10-05:00", "2026-11-20T23:59:59Z", "2001-12-14 21:59:43.10 -5",
    "2001-02-30", "<<", "=", "a: b", "a:b", "a #b", "a#b", "- a", "-a", "-", "?", "? a",
    "a?", "[a]", "{a}", "a,b", "a, b", "it's", 'say "hi"', "back\\slash", "x\ty", " lead",
    "trail ", "%x", "@x", "`x", "!x", "&x", "*x", "|", ">", "...", "---", "#", "a  b",
    "Soci\u00e9t\u00e9", "\u2713", "0xeb9e383bbc89b8bf74ac33e44fb1583a5fa84b97",
    "US88160R1014", "1523.000000", "TSLAx", "36h", "1d", "${ETH_RPC_URL:-https://x.invalid}",
    "XsDoVfqeBukxuZHWhdvWHBhgEHjGNst4MLodqsJHzoB", "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
]  # fmt: skip
ALPHABET = string.ascii_letters[:6] + "XYZ019 -_.:#,[]{}'\"\\?&*!|>%@`~<=+\u00e9\u2713"


def _scalar(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(TRICKY)
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))


def _tree(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return ("scalar", _scalar(rng), rng.choice(["plain", "plain", "single", "double"]))
    size = rng.randint(0, 4)
    if roll < 0.75:
        keys = [
            (_scalar(rng), rng.choice(["plain", "plain", "single", "double"])) for _ in range(size)
        ]
        return ("map", [(k, _tree(rng, depth + 1)) for k in keys])
    return ("seq", [_tree(rng, depth + 1) for _ in range(size)])


def _quote(text: str, style: str) -> str:
    if style == "plain":
        return text
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flow(node: Any, rng: random.Random) -> str:
    comma = rng.choice([", ", ",", " , "])
    colon = rng.choice([": ", ": ", ":", " : "])
    if node[0] == "scalar":
        return _quote(node[1], node[2])
    if node[0] == "seq":
        return "[" + comma.join(_flow(item, rng) for item in node[1]) + "]"
    return "{" + comma.join(_quote(*k) + colon + _flow(v, rng) for k, v in node[1]) + "}"


def _comment(rng: random.Random) -> str:
    return rng.choice(["", "", "", "  # note", " #: x", "#x"])


def _block(node: Any, indent: int, rng: random.Random) -> list[str]:
    pad = " " * indent
    step = rng.choice([1, 2, 2, 4])
    out: list[str] = []
    if node[0] == "map":
        for key, value in node[1]:
            head = pad + _quote(*key) + ":"
            if value[0] == "scalar" or not value[1] or rng.random() < 0.3:
                out.append(head + " " + _flow(value, rng) + _comment(rng))
            else:
                out.append(head + _comment(rng))
                inner = indent if value[0] == "seq" and rng.random() < 0.3 else indent + step
                out += _block(value, inner, rng)
    elif node[0] == "seq":
        for item in node[1]:
            if item[0] == "map" and item[1] and rng.random() < 0.6:  # `- key: value`
                sub = _block(item, indent + 2, rng)
                out.append(pad + "- " + sub[0][indent + 2 :])
                out += sub[1:]
            elif item[0] == "scalar" or not item[1] or rng.random() < 0.3:
                out.append(pad + "- " + _flow(item, rng) + _comment(rng))
            else:
                out.append(pad + "-" + _comment(rng))
                out += _block(item, indent + step, rng)
    else:
        out.append(pad + _flow(node, rng))
    if rng.random() < 0.2:
        out.insert(rng.randint(0, len(out)), rng.choice(["", "   ", "# c", "  # c"]))
    return out


JSON_LEAVES = {"12": 12, "-0": 0, "1.5": 1.5, "true": True, "False": False, "null": None}


def _plain_data(node: Any, typed: bool) -> Any:
    """The data a JSON writer would be given: strings, or some numbers, booleans and nulls."""
    if node[0] == "scalar":
        return JSON_LEAVES.get(node[1], node[1]) if typed else node[1]
    if node[0] == "seq":
        return [_plain_data(item, typed) for item in node[1]]
    return {k[0]: _plain_data(v, typed) for k, v in node[1]}


def generate(rng: random.Random) -> str:
    root = _tree(rng, 0)
    if root[0] == "scalar" or rng.random() < 0.1:
        root = ("map", [(("k", "plain"), root)])
    style = rng.random()
    if style < 0.6:
        text = "\n".join(_block(root, 0, rng)) + "\n"
    elif style < 0.8:
        text = _flow(root, rng) + "\n"
    else:
        data = _plain_data(root, rng.random() < 0.5)
        text = json.dumps(data, indent=rng.choice([None, 2]), ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.1:
        text = text.replace("\n", "\r\n")
    return text


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        i = rng.randint(0, len(text))
        roll = rng.random()
        if roll < 0.4:
            text = text[:i] + rng.choice(" :-#,[]{}'\"\n\t?&*!|>%@`~.0xyYnNtT1") + text[i:]
        elif roll < 0.7:
            text = text[:i] + text[i + 1 :]
        elif roll < 0.85:
            text = text[:i] + " " * rng.randint(1, 3) + text[i:]
        else:
            rows = text.split("\n")
            j = rng.randrange(len(rows))
            rows.insert(j, rows[j])
            text = "\n".join(rows)
    return text


def test_generated_documents_agree() -> None:
    rng = random.Random(20261122)
    read = total = 0
    for _ in range(1500):
        text = generate(rng)
        total += 1
        read += agree(text)
    assert read > total / 4, f"only {read} of {total} generated documents read fast"
    assert read < total, "nothing declined: the generator is too tame"


def test_edited_documents_agree() -> None:
    rng = random.Random(1122)
    read = 0
    for _ in range(2000):
        read += agree(mutate(generate(rng), rng))
    assert read > 100


def test_edited_registries_agree() -> None:
    rng = random.Random(7)
    base = test_registry.VALID + test_registry.SECOND_TOKEN
    for _ in range(1500):
        agree(mutate(base, rng))
    for _ in range(500):
        agree(mutate(test_custody.JSON, rng))


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False), st.booleans())
def test_generated_documents_agree_hypothesis(rng: random.Random, edit: bool) -> None:
    text = generate(rng)
    agree(mutate(text, rng) if edit else text)


# ------------------------------------------------------------------------- scale and time

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def registry_text(n: int, seed: int = 0) -> str:
    """A registry shaped like the benchmark's: n tokens, each on an EVM and a Solana chain."""
    rng = random.Random(seed)
    rows = [
        "version: 1",
        "chains:",
        "  evm:",
        "    type: evm",
        "    chain_id: 31337",
        '    rpc: ["http://127.0.0.1:1"]',
        "  sol:",
        "    type: solana",
        '    rpc: ["http://127.0.0.1:2"]',
        "custodians:",
        "  bench:",
        '    attestations: ["custody.json"]',
        "    max_age: 1d",
        "tokens:",
    ]
    owner = "".join(rng.choice(B58) for _ in range(44))
    for i in range(n):
        address = "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40))
        mint = "".join(rng.choice(B58) for _ in range(44))
        rows += [
            f"  - symbol: TK{i}",
            f"    isin: XS{i:09d}0",
            "    custodian: bench",
            "    deployments:",
            f'      - {{chain: evm, address: "{address}", exclude: ["0x{0xE000:040x}"]}}',
            f"      - {{chain: sol, mint: {mint}, exclude_owners: [{owner}]}}",
        ]
    return "\n".join(rows) + "\n"


def test_benchmark_shaped_registry_is_read_fast_and_right() -> None:
    text = registry_text(300)
    assert agree(text)
    custody = json.dumps(
        {
            "custodian": "bench",
            "account": "SAFE-1",
            "as_of": "2026-11-22T08:00:00Z",
            "holdings": [{"isin": f"XS{i:09d}0", "quantity": "1500"} for i in range(300)],
        }
    )
    assert agree(custody)
    _, smap = yamlsrc.loads(custody, "custody.json")
    assert smap.line(("holdings", 299, "quantity")) == 1


def _cpu_seconds(text: str) -> float:
    best = math.inf
    for _ in range(3):
        start = time.process_time()
        yamlsrc.loads(text, NAME)
        best = min(best, time.process_time() - start)
    return best


def test_reading_is_linear_in_the_number_of_tokens() -> None:
    small, large = registry_text(400), registry_text(4000)
    assert yamlfast._FastReader(large).read() is not None
    ratio = _cpu_seconds(large) / max(_cpu_seconds(small), 1e-4)
    assert ratio < 25, f"10x the tokens took {ratio:.1f}x the time"


def test_registry_errors_are_those_pyyaml_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validation layers ask the SourceMap for lines deep inside one-row flow
    collections: every error, with its line, is the same as after PyYAML's reading."""
    # these ISINs' check digits and these base58 keys' lengths are wrong: many errors
    text = registry_text(60).replace("exclude_owners: [", "exclude_owner: [", 1)
    text = text.replace("max_age: 1d", "max_age: 1 day")
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    assert yamlfast._FastReader(text).read() is not None
    with pytest.raises(InputError) as fast:
        registry.load(path, env={})
    monkeypatch.setattr(yamlsrc, "loads", yamlsrc._loads_pyyaml)
    with pytest.raises(InputError) as slow:
        registry.load(path, env={})
    assert fast.value.render() == slow.value.render()
    assert fast.value.render().count("\n") > 50


def test_a_block_document_records_its_lines_when_first_asked_for() -> None:
    _, smap = yamlsrc.loads(test_registry.VALID, NAME)
    assert smap._later is not None  # reading the registry recorded no line
    row = test_registry.VALID.splitlines().index("        decimals: 18") + 1
    assert smap.line(("tokens", 0, "deployments", 0, "decimals")) == row
    assert smap._later is None and len(smap.lines) > 20
    _, smap = yamlsrc.loads(test_custody.JSON, NAME)
    assert smap._later is not None  # read by json's parser, which records no line either
    assert smap.line(("holdings", 1, "quantity")) == 7
    assert smap._later is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"a": "x\\n"}', "an escape"),
        ('{"a": 1.5}', "a float (PyYAML reads 1e5 as a string)"),
        ('{"a": 1e5}', "a float (PyYAML reads 1e5 as a string)"),
        ('{"a": NaN}', "a constant"),
        ('{"a": 1, "a": 2}', "a duplicate key"),
        ('{"a"\n: 1}', "a line break before the colon"),
        ('{"a"' + " " * 8 + ": 1}", "spaces before the colon"),
        ('{"' + "k" * 1000 + '": 1}', "a long key"),
        ("[" * 101 + "]" * 101, "deep nesting"),
        ('{"a": 1,}', "not JSON"),
        ('{"a": 1} # c', "not JSON"),
    ],
)
def test_json_that_pyyaml_may_read_otherwise_is_left_to_the_flow_reader(
    text: str, why: str
) -> None:
    assert yamlfast._FastReader(text, record_lines=False)._json_document(text) is (
        yamlfast._MISSING
    ), why
    agree(text)  # and what reads it then reads it as PyYAML does (or declines)


def test_json_documents_go_through_json_parser() -> None:
    for text in (
        test_custody.JSON,
        json.dumps(json.loads(test_custody.JSON)),
        json.dumps(json.loads(test_custody.JSON), separators=(",", ":")),
        json.dumps({"a": ["b", {"c": None, "d": True, "e": -3, "f": ""}], "g": []}, indent=3),
    ):
        lean = yamlfast._FastReader(text, record_lines=False)
        assert lean.read() is not None and lean.json, text
        assert agree(text)


def test_dates_and_times_are_pyyaml_objects() -> None:
    data, _ = yamlsrc.loads("a: 2001-12-14\nb: 2026-11-20T23:59:59Z\n", NAME)
    assert type(data["a"]) is date and type(data["b"]) is datetime
