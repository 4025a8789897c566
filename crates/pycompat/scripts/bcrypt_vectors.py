#!/usr/bin/env python3
"""Write ``tests/data/bcrypt_vectors.json``: pyca bcrypt 3.2.0's answers.

Run with the reference app's virtualenv (the oracle's, which has the
bcrypt the original Django users app hashes with), from the repository
root:

    ${TMPDIR:-/tmp}/ledger-reference-venv/bin/python crates/pycompat/scripts/bcrypt_vectors.py

It refuses any bcrypt but 3.2.0. The output is deterministic (a fixed
random seed; salts are made here, not by ``gensalt``). Format: a JSON
object with

- ``"bcrypt"``: the version;
- ``"cases"``: a list of ``{"password": hex, "salt": text, "hashpw":
  text | null, "error": message | null}`` — ``bcrypt.hashpw(password,
  salt)`` or the ``ValueError`` it raised; ``"salt"`` is a setting
  (``$2b$04$`` + 22 characters) or a whole stored hash;
- ``"checks"``: a list of ``{"password": hex, "stored": text, "checkpw":
  bool | null, "error": message | null}`` — ``bcrypt.checkpw``.

The vectors: ``$2a$``, ``$2b$`` and ``$2y$``; passwords of every length
0..80 (so 71, 72 and 73 too) and longer, random bytes 1-255 and UTF-8
text with multibyte characters; costs 4 to 10 and one of 12; the right
password, a wrong one and one differing past byte 72; a non-canonical
22nd salt character; stored hashes cut short or with a suffix; salts
bcrypt refuses (a bad character, too short, cost 3 and 32, an unknown
prefix).
"""

import base64
import json
import os
import random

import bcrypt

STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
BCRYPT = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
TO_BCRYPT = str.maketrans(STD, BCRYPT)


def salt_text(raw):
    """bcrypt's base64 of 16 bytes: 22 characters."""
    return base64.b64encode(raw).decode().rstrip("=").translate(TO_BCRYPT)


def setting(rng, prefix, cost):
    return f"${prefix}${cost:02d}${salt_text(bytes(rng.getrandbits(8) for _ in range(16)))}"


def random_password(rng, length):
    if rng.random() < 0.3:
        chars = "aé€𝄞ß中文 Zx9!"
        text = ""
        while len(text.encode()) < length:
            text += rng.choice(chars)
        return text.encode()[:length]
    return bytes(rng.randint(1, 255) for _ in range(length))


def hash_case(password, salt):
    try:
        return {"password": password.hex(), "salt": salt, "hashpw": bcrypt.hashpw(password, salt.encode()).decode(),
                "error": None}
    except ValueError as e:
        return {"password": password.hex(), "salt": salt, "hashpw": None, "error": str(e)}


def check_case(password, stored):
    try:
        return {"password": password.hex(), "stored": stored, "checkpw": bcrypt.checkpw(password, stored.encode()),
                "error": None}
    except ValueError as e:
        return {"password": password.hex(), "stored": stored, "checkpw": None, "error": str(e)}


def main():
    assert bcrypt.__version__ == "3.2.0", f"bcrypt {bcrypt.__version__}, not 3.2.0"
    rng = random.Random(17)
    cases, checks = [], []
    prefixes = ["2a", "2b", "2y"]
    lengths = list(range(0, 81)) + [100, 200, 255, 256, 300]
    for i, length in enumerate(lengths):
        cost = 4 if i % 9 else rng.randint(5, 10)
        prefix = prefixes[i % 3]
        password = random_password(rng, length)
        s = setting(rng, prefix, cost)
        case = hash_case(password, s)
        cases.append(case)
        stored = case["hashpw"]
        checks.append(check_case(password, stored))
        # a wrong password: one byte changed (in the first 72), and one longer
        if password:
            at = rng.randrange(min(len(password), 72))
            wrong = password[:at] + bytes([password[at] % 255 + 1]) + password[at + 1:]
            checks.append(check_case(wrong, stored))
        checks.append(check_case(password + b"x", stored))
        # cut short, a suffix, the setting alone
        checks.append(check_case(password, stored[:59]))
        checks.append(check_case(password, stored + "a"))
        checks.append(check_case(password, stored[:29]))
        # the same hash under the other prefixes
        for other in prefixes:
            checks.append(check_case(password, "$" + other + stored[3:]))
    # one of each cost 4..10, and one of 12
    for cost in list(range(4, 11)) + [12]:
        password = random_password(rng, rng.randint(1, 30))
        case = hash_case(password, setting(rng, "2b", cost))
        cases.append(case)
        checks.append(check_case(password, case["hashpw"]))
    # non-canonical 22nd salt characters: the low 4 bits are ignored
    for _ in range(12):
        s = setting(rng, rng.choice(prefixes), 4)
        last = BCRYPT.index(s[-1])
        s = s[:-1] + BCRYPT[last | rng.randint(1, 15)]
        password = random_password(rng, rng.randint(0, 20))
        case = hash_case(password, s)
        cases.append(case)
        # the stored text has the canonical character: the non-canonical one does not match
        checks.append(check_case(password, case["hashpw"]))
        checks.append(check_case(password, s + case["hashpw"][29:]))
    # salts bcrypt refuses
    good = setting(rng, "2b", 4)
    bad = [
        "", "$", "$2b$", "$2b$04$", good[:28], good[:7] + "!" + good[8:], good[:7] + "é" + good[9:],
        "$2b$03$" + good[7:], "$2b$32$" + good[7:], "$2b$99$" + good[7:], "$2x$04$" + good[7:], "$2$04$" + good[7:],
        "$3b$04$" + good[7:], "$2b$4$" + good[7:], "$2b$04" + good[7:], "2b$04$" + good[7:], "$2b$0a$" + good[7:],
        "$2b$ 4$" + good[7:], "$2B$04$" + good[7:], "$2y$04" + good[6:], good[:20] + "*" + good[21:],
        good[:28] + "!", good[:28] + " ",
    ]
    for s in bad:
        cases.append(hash_case(b"password", s))
        checks.append(check_case(b"password", s + "abcdefghijklmnopqrstuvwxyz01234"))
    # NUL bytes
    cases.append(hash_case(b"pass\0word", good))
    checks.append(check_case(b"pass\0word", cases[0]["hashpw"]))
    here = os.path.dirname(os.path.abspath(__file__))
    out = {"bcrypt": bcrypt.__version__, "cases": cases, "checks": checks}
    with open(os.path.join(here, "..", "tests", "data", "bcrypt_vectors.json"), "w") as f:
        json.dump(out, f, indent=0, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
