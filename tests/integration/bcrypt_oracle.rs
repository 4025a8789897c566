//! ledger-server's bcrypt against Python bcrypt 3.2.0 itself, live: the
//! oracle's virtualenv makes ~200 fresh random vectors (passwords of 0–100
//! random bytes, `$2a$`/`$2b$`/`$2y$`, costs 4–6, wrong passwords, cut and
//! suffixed hashes, non-canonical salts) and answers `hashpw`/`checkpw`;
//! `auth::password::check`, `CheckJob` and `pybcrypt::hashpw` must give
//! the same. A missing virtualenv fails the test.

use ledger_contract::kit::oracle::{check_oracle_prerequisites, oracle_venv};
use ledger_server::auth::password::{check, CheckJob};
use pycompat::pybcrypt;
use serde_json::Value;
use std::process::Command;

const SCRIPT: &str = r#"
import json, os, random, bcrypt
assert bcrypt.__version__ == "3.2.0", bcrypt.__version__
rng = random.Random(os.urandom(16))
B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
def salt22():
    s = "".join(rng.choice(B64) for _ in range(22))
    return s
def answer(f, *args):
    try:
        r = f(*args)
        return r.decode() if isinstance(r, bytes) else r
    except ValueError as e:
        return "ValueError: " + str(e)
out = []
for i in range(200):
    pw = bytes(rng.randint(1, 255) for _ in range(rng.choice([rng.randint(0, 100), 71, 72, 73])))
    salt = "$%s$%02d$%s" % (rng.choice(["2a", "2b", "2y"]), rng.choice([4, 4, 4, 5, 6]), salt22())
    h = answer(bcrypt.hashpw, pw, salt.encode())
    wrong = pw[:-1] if pw and rng.random() < 0.5 else pw + bytes([rng.randint(1, 255)])
    stored = [h, h[:59], h + "x", h[:29] + h[29:59] + "", salt[:28], "$2c" + h[3:]]
    out.append({"password": pw.hex(), "wrong": wrong.hex(), "salt": salt, "hashpw": h,
                "checks": [[s, answer(bcrypt.checkpw, pw, s.encode()), answer(bcrypt.checkpw, wrong, s.encode())]
                           for s in stored]})
print(json.dumps(out))
"#;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// Our answer in the script's terms: the hash, true/false, or the error.
fn ours_check(password: &[u8], stored: &str) -> Value {
    let direct = check(password, stored.as_bytes());
    // the split check the login view runs gives the same
    let split = CheckJob::new(password, stored.as_bytes()).map(|job| job.finish(&job.eks().run(&mut || ())));
    assert_eq!(direct, split, "check and CheckJob differ on {stored}");
    match direct {
        Ok(matches) => Value::Bool(matches),
        Err(e) => Value::String(format!("ValueError: {}", e.0)),
    }
}

#[test]
fn fresh_random_vectors_match_python_bcrypt_of_the_oracle() {
    check_oracle_prerequisites().unwrap();
    let python = oracle_venv().join("bin/python");
    assert!(
        python.exists(),
        "the oracle's virtualenv has no {}: build it with ../shared/reference/run.sh",
        python.display()
    );
    let out = Command::new(&python).arg("-c").arg(SCRIPT).output().unwrap();
    assert!(out.status.success(), "{}: {}", python.display(), String::from_utf8_lossy(&out.stderr));
    let vectors: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vectors.len(), 200);
    let (mut matches, mut compared) = (0, 0);
    for v in &vectors {
        let password = hex(v["password"].as_str().unwrap());
        let wrong = hex(v["wrong"].as_str().unwrap());
        let salt = v["salt"].as_str().unwrap();
        let hashed = pybcrypt::hashpw(&password, salt.as_bytes()).map(|h| String::from_utf8(h.to_vec()).unwrap());
        assert_eq!(hashed.as_deref().unwrap_or("?"), v["hashpw"].as_str().unwrap(), "hashpw({v})");
        for case in v["checks"].as_array().unwrap() {
            let stored = case[0].as_str().unwrap();
            assert_eq!(ours_check(&password, stored), case[1], "checkpw(password, {stored}) of {v}");
            assert_eq!(ours_check(&wrong, stored), case[2], "checkpw(wrong, {stored}) of {v}");
            matches += usize::from(case[1] == Value::Bool(true));
            compared += 2;
        }
    }
    assert!(matches >= 200, "only {matches} matching checks");
    assert_eq!(compared, 200 * 12);
}
