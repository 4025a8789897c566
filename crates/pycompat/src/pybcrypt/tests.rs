use super::*;

#[test]
fn the_initial_state_is_pi() {
    assert_eq!(pi::P[0], 0x243f_6a88);
    assert_eq!(pi::P[1], 0x85a3_08d3);
    assert_eq!(pi::P[17], 0x8979_fb1b);
    assert_eq!(pi::S[0][0], 0xd131_0ba6);
    assert_eq!(pi::S[0][255], 0x6e85_076a);
    assert_eq!(pi::S[1][0], 0x4b7a_70e9);
    assert_eq!(pi::S[2][0], 0xe93d_5a68);
    assert_eq!(pi::S[3][0], 0x3a39_ce37);
    assert_eq!(pi::S[3][255], 0x3ac3_72e6);
}

// Made by Python bcrypt 3.2.0: hashpw(b"Passw0rd!", b"$2b$04$" + 22 salt chars).
const HASH_2B: &[u8] = b"$2b$04$abcdefghijklmnopqrstuuchGdllX0O2ZthG6oyaPSbmBrCIbnHlu";

#[test]
fn checks_a_python_hash() {
    assert_eq!(checkpw(b"Passw0rd!", HASH_2B), Ok(true));
    assert_eq!(checkpw(b"Passw0rd?", HASH_2B), Ok(false));
    assert_eq!(hashpw(b"Passw0rd!", &HASH_2B[..29]).map(|h| h.to_vec()), Ok(HASH_2B.to_vec()));
    assert_eq!(hashpw(b"Passw0rd!", HASH_2B).map(|h| h.to_vec()), Ok(HASH_2B.to_vec()));
}

#[test]
fn prefixes_change_only_the_text() {
    let mut a = HASH_2B.to_vec();
    a[2] = b'a';
    let mut y = HASH_2B.to_vec();
    y[2] = b'y';
    assert_eq!(checkpw(b"Passw0rd!", &a), Ok(true));
    assert_eq!(checkpw(b"Passw0rd!", &y), Ok(true));
    assert_eq!(hashpw(b"Passw0rd!", &y).map(|h| h.to_vec()), Ok(y.clone()));
    let mut x = HASH_2B.to_vec();
    x[2] = b'x';
    assert_eq!(checkpw(b"Passw0rd!", &x), Err(INVALID_SALT));
}

#[test]
fn refusals_and_mismatches() {
    assert_eq!(checkpw(b"Passw0rd!", &HASH_2B[..40]), Ok(false));
    assert_eq!(checkpw(b"Passw0rd!", &[HASH_2B, b"x"].concat()), Ok(false));
    assert_eq!(checkpw(b"Passw0rd!", &HASH_2B[..28]), Err(INVALID_SALT));
    assert_eq!(checkpw(b"Passw0rd!", &HASH_2B[..29]), Ok(false));
    assert_eq!(
        checkpw(b"Passw0rd!", b"$2b$04$abcdefghij!lmnopqrstuuchGdllX0O2ZthG6oyaPSbmBrCIbnHlu"),
        Err(INVALID_SALT)
    );
    assert_eq!(
        checkpw(b"Passw0rd!", b"$2b$03$abcdefghijklmnopqrstuuchGdllX0O2ZthG6oyaPSbmBrCIbnHlu"),
        Err(INVALID_SALT)
    );
    assert_eq!(
        checkpw(b"Passw0rd!", b"$2b$32$abcdefghijklmnopqrstuuchGdllX0O2ZthG6oyaPSbmBrCIbnHlu"),
        Err(INVALID_SALT)
    );
    assert_eq!(checkpw(b"pass\0word", HASH_2B), Err(NUL_BYTES));
    assert_eq!(checkpw(b"password", b"$2b$04$\0"), Err(NUL_BYTES));
    assert_eq!(hashpw(b"pass\0word", HASH_2B), Err(NUL_IN_PASSWORD));
    assert_eq!(hashpw(b"Passw0rd!", &[&HASH_2B[..29], b"\0junk"].concat()).map(|h| h.to_vec()), Ok(HASH_2B.to_vec()));
}

#[test]
fn the_password_is_cut_at_72_bytes() {
    let salt = [7u8; 16];
    let long = [b'a'; 100];
    let full = eks(4, &salt, &long, &mut || ());
    assert_eq!(eks(4, &salt, &long[..72], &mut || ()), full);
    assert_ne!(eks(4, &salt, &long[..71], &mut || ()), full);
}

#[test]
fn base64_round_trips() {
    let salt: [u8; 16] = core::array::from_fn(|i| (i * 37 + 11) as u8);
    let text = encode_base64(&salt);
    assert_eq!(text.len(), 22);
    assert_eq!(decode_salt(text.as_bytes()), Some(salt));
    assert_eq!(encode_base64(&[0u8; 23]).len(), 31);
    assert_eq!(encode_base64(&[0xff; 3]), "9999");
    assert_eq!(encode_base64(&[0; 1]), "..");
    assert_eq!(decode_salt(b"abc"), None);
    // the 22nd character's low 4 bits are ignored
    let mut other = text.clone().into_bytes();
    other[21] = ALPHABET[ALPHABET.iter().position(|&c| c == other[21]).unwrap() ^ 1];
    assert_eq!(decode_salt(&other), Some(salt));
}

#[test]
fn pairs_and_triples_equal_single_runs() {
    let a = Eks::new(4, &[1; 16], b"first");
    let b = Eks::new(5, &[2; 16], b"second password");
    let c = Eks::new(4, &[3; 16], b"");
    let (ra, rb, rc) = (a.run(&mut || ()), b.run(&mut || ()), c.run(&mut || ()));
    assert_eq!(eks2(&a, &b, &mut || ()), (ra, rb));
    assert_eq!(eks2(&b, &a, &mut || ()), (rb, ra));
    assert_eq!(eks2(&a, &a, &mut || ()), (ra, ra));
    assert_eq!(eks3(&a, &b, &c, &mut || ()), [ra, rb, rc]);
    assert_eq!(eks3(&b, &c, &a, &mut || ()), [rb, rc, ra]);
}

#[test]
fn pause_is_called_once_per_expensive_round() {
    let mut n = 0;
    eks(5, &[0; 16], b"x", &mut || n += 1);
    assert_eq!(n, 32);
    let (a, b) = (Eks::new(4, &[0; 16], b"x"), Eks::new(6, &[0; 16], b"y"));
    let mut n = 0;
    eks2(&a, &b, &mut || n += 1);
    assert_eq!(n, 16 + 48, "16 paired rounds, then 48 alone");
}
