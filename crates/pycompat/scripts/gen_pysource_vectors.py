"""Writes tests/data/pysource_vectors.json: Python 3.11's own reading of
literal forms a settings file may hold (each expression evaluated with no
names defined, warnings ignored, as the interpreter runs a settings file), for
`tests/pysource_vectors.rs`.

Each case: {"src": source text of the expression, "ok": bool, "value":
the value encoded as below (when ok), "may_refuse": true when pycompat may
refuse what Python accepts (\\N{...}, lone surrogates, ints beyond i128,
complex numbers, f-strings: code, not literals)}. Values: {"none": null}, {"bool": b}, {"int": "digits"},
{"float": repr}, {"str": s}, {"bytes": hex}, {"list"|"tuple": [values]},
{"dict": [[k, v], ...]}.

Run from the repository root under CPython 3.11:
    python3 crates/pycompat/scripts/gen_pysource_vectors.py
"""
import itertools
import json
import sys
import warnings

assert sys.version_info[:2] == (3, 11), "run under CPython 3.11"
warnings.simplefilter("ignore")

ESCAPES = [
    "", "a", "\\n", "\\t", "\\\\", "\\'", '\\"', "\\a", "\\b", "\\f", "\\v", "\\r", "\\0", "\\7", "\\07",
    "\\101", "\\777", "\\400", "\\1234", "\\x41", "\\xff", "\\x4", "\\xg1", "\\u00e9", "\\u12", "\\U0001F600",
    "\\U00110000", "\\U0000004", "\\N{DASH}", "\\q", "\\8", "\\ ", "\\\n", "\\ud800", "é", "\\x00",
    "a\nb", "\\", "'", '"', "#", "\\u20ac", "\\U000000e9",
]
PREFIXES = ["", "r", "u", "b", "R", "B", "rb", "Br", "bR", "RB", "f", "U"]
QUOTES = ["'", '"', "'''", '"""']
NUMBERS = [
    "0", "00", "01", "7", "-7", "+7", "--7", "1_000", "1__0", "1_", "_1", "0x1F", "0X_1f", "0x", "0o17", "0o8",
    "0b101", "0b2", "1.5", "1.", ".5", "1e3", "1E-3", "1.5e+2", "1_0.5", "1.0_5", "1e1_0", "1e", "1j", "2.5J",
    "1e999", "-0.0", "170141183460469231731687303715884105727", "170141183460469231731687303715884105728",
    "-170141183460469231731687303715884105728", "0xffffffffffffffffffffffffffffffffff", "1if", "0_0", "0b_1",
    "True", "False", "None", "-True", "-None", "1.e5", "3.14159265358979323846264338327950288",
]
CONTAINERS = [
    "[]", "()", "{}", "[1, 2,]", "(1,)", "(1)", "(,)", "[,]", "{'a': 1, 'b': [2, (3,)],}", "{'a': 1,, }",
    "('a' 'b', b'c' b'd')", "'a' b'b'", "b'a' 'b'", "'a' 'b' \"c\" '''d'''", "{'k': {'n': None}}", "[1 2]",
    "{'a' : 'b' 'c'}", "['x',\n 'y']", "(\n 1,\n 2\n)", "{1: 2, 3}", "[*x]", "{**x}", "-'a'", "r'\\'", "'''a''b'''",
    "'a\\\nb'", "'''a\nb'''", "r'a\\\nb'", "b'\\u00e9'", "b'é'", "u'\\u00e9'", "('a')", "(('a',),)",
]


def encode(v):
    if v is None:
        return {"none": None}
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, list):
        return {"list": [encode(x) for x in v]}
    if isinstance(v, tuple):
        return {"tuple": [encode(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[encode(k), encode(x)] for k, x in v.items()]}
    raise TypeError(type(v))


def may_refuse(src, v):
    if "\\N{" in src or isinstance(v, complex) or src[:2].lower() in ("f'", 'f"'):
        return True
    if isinstance(v, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in v):
        return True
    if isinstance(v, int) and not isinstance(v, bool) and not -(2**127) < v < 2**127:
        return True
    return False


def case(src):
    try:
        v = eval(compile(src, "<settings>", "eval"), {"__builtins__": {}})
    except (SyntaxError, ValueError, TypeError, NameError):
        return {"src": src, "ok": False}
    refuse = may_refuse(src, v)
    if refuse:
        return {"src": src, "ok": True, "may_refuse": True}
    return {"src": src, "ok": True, "value": encode(v)}


def main():
    sources = []
    for prefix, quote, body in itertools.product(PREFIXES, QUOTES, ESCAPES):
        sources.append(f"{prefix}{quote}{body}{quote}")
    for a, b in itertools.product(ESCAPES[:12], repeat=2):
        sources.append(f"'{a}x{b}'")
    sources += NUMBERS + CONTAINERS
    cases = [case(s) for s in sources]
    out = "crates/pycompat/tests/data/pysource_vectors.json"
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"python": sys.version.split()[0], "cases": cases}, f, ensure_ascii=True, indent=0)
        f.write("\n")
    print(f"{out}: {len(cases)} cases")


main()
