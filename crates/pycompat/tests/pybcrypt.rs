// `pycompat::pybcrypt` against Python bcrypt 3.2.0's answers
// (tests/data/bcrypt_vectors.json, written by
// crates/pycompat/scripts/bcrypt_vectors.py from the oracle's virtualenv)
// and against the `bcrypt` crate on thousands of random inputs.

use pycompat::pybcrypt::{checkpw, eks, eks2, eks3, encode_base64, hashpw, Eks, Error};
use serde_json::Value;

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `len` random bytes 1–255 (bcrypt passwords are C strings).
    fn password(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| 1 + self.below(255) as u8).collect()
    }

    fn salt(&mut self) -> [u8; 16] {
        core::array::from_fn(|_| self.next() as u8)
    }
}

/// The `bcrypt` crate's raw hash: its 23 bytes decoded from its text.
fn crate_hash(cost: u32, salt: [u8; 16], password: &[u8]) -> String {
    bcrypt::hash_with_salt(password, cost, salt)
        .expect("the bcrypt crate hashes")
        .format_for_version(bcrypt::Version::TwoB)
}

fn our_text(cost: u32, salt: &[u8; 16], password: &[u8]) -> String {
    let raw = eks(cost, salt, password, &mut || ());
    format!("$2b${cost:02}${}{}", encode_base64(salt), encode_base64(&raw[..23]))
}

#[test]
fn equals_the_bcrypt_crate_on_random_vectors() {
    let mut rng = Rng(0x5eed_b0c7);
    for i in 0..2_000 {
        let len = rng.below(101) as usize;
        let password = rng.password(len);
        let salt = rng.salt();
        assert_eq!(our_text(4, &salt, &password), crate_hash(4, salt, &password), "vector {i}: {password:?}");
    }
    for cost in 5..=8 {
        let len = rng.below(101) as usize;
        let password = rng.password(len);
        let salt = rng.salt();
        assert_eq!(our_text(cost, &salt, &password), crate_hash(cost, salt, &password), "cost {cost}");
    }
}

#[test]
fn interleaved_runs_equal_single_runs() {
    let mut rng = Rng(0xfeed_f00d);
    let job = |rng: &mut Rng, cost: u32| {
        let len = rng.below(80) as usize;
        let password = rng.password(len);
        Eks::new(cost, &rng.salt(), &password)
    };
    for (ca, cb) in [(4, 4), (4, 6), (6, 4), (5, 5), (7, 4)] {
        let (a, b) = (job(&mut rng, ca), job(&mut rng, cb));
        let single = (a.run(&mut || ()), b.run(&mut || ()));
        assert_eq!(eks2(&a, &b, &mut || ()), single, "costs {ca} and {cb}");
        let c = job(&mut rng, 5);
        assert_eq!(eks3(&a, &b, &c, &mut || ()), [single.0, single.1, c.run(&mut || ())]);
    }
}

#[test]
fn prefixes_give_the_same_raw_hash() {
    let mut rng = Rng(7);
    for len in [0, 1, 71, 72, 73, 100] {
        let password = rng.password(len);
        let salt = encode_base64(&rng.salt());
        let texts: Vec<Vec<u8>> = ["2a", "2b", "2y"]
            .iter()
            .map(|p| hashpw(&password, format!("${p}$04${salt}").as_bytes()).unwrap().to_vec())
            .collect();
        assert_eq!(texts[0][4..], texts[1][4..]);
        assert_eq!(texts[1][4..], texts[2][4..]);
        assert_eq!(&texts[2][..4], b"$2y$");
    }
}

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bcrypt_vectors.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; run crates/pycompat/scripts/bcrypt_vectors.py with the oracle's venv")
    });
    serde_json::from_str(&text).expect("bcrypt_vectors.json is not valid JSON")
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn expected_error(case: &Value) -> Option<&str> {
    case["error"].as_str()
}

#[test]
fn equals_python_bcrypt_3_2_0() {
    let vectors = vectors();
    assert_eq!(vectors["bcrypt"], "3.2.0");
    let cases = vectors["cases"].as_array().unwrap();
    let checks = vectors["checks"].as_array().unwrap();
    assert!(cases.len() >= 120 && checks.len() >= 800, "{} cases, {} checks", cases.len(), checks.len());
    let (mut matched, mut refused) = (0, 0);
    for case in cases {
        let (password, salt) = (hex(case["password"].as_str().unwrap()), case["salt"].as_str().unwrap());
        let ours = hashpw(&password, salt.as_bytes());
        match expected_error(case) {
            Some(message) => assert_eq!(ours.map_err(|Error(e)| e), Err(message), "hashpw({case})"),
            None => {
                let text = String::from_utf8(ours.unwrap().to_vec()).unwrap();
                assert_eq!(text, case["hashpw"].as_str().unwrap(), "hashpw({case})");
            }
        }
    }
    for case in checks {
        let (password, stored) = (hex(case["password"].as_str().unwrap()), case["stored"].as_str().unwrap());
        let ours = checkpw(&password, stored.as_bytes());
        match expected_error(case) {
            Some(message) => {
                refused += 1;
                assert_eq!(ours.map_err(|Error(e)| e), Err(message), "checkpw({case})");
            }
            None => {
                let expected = case["checkpw"].as_bool().unwrap();
                matched += usize::from(expected);
                assert_eq!(ours, Ok(expected), "checkpw({case})");
            }
        }
    }
    assert!(matched > 300 && refused > 15, "{matched} matches, {refused} refusals");
}
