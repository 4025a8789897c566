//! `pybcrypt`: pyca bcrypt 3.2.0's `hashpw` and `checkpw` (OpenBSD's C
//! code, which the original Django users app hashes passwords with),
//! exactly, on a fast eksblowfish ([`eks`], and [`eks2`]: two checks
//! interleaved on one thread).
//!
//! - A stored hash is read as OpenBSD's `bcrypt_hashpass` reads it:
//!   `$2a$`, `$2b$` and `$2y$` (pyca rewrites `$2y$` to `$2b$` and back),
//!   a two-digit cost 4–31, then only the first 22 salt characters (a
//!   non-canonical last character decodes like its canonical one, so the
//!   text computed differs from the stored one). Anything else raises
//!   `ValueError("Invalid salt")` in Python: [`Error`] here.
//! - The password is cut to 72 bytes and a NUL appended; `$2a$` and `$2b$`
//!   give the same raw hash, the prefix only changes the text.
//! - `checkpw` compares the whole computed text with the stored bytes in
//!   constant time: a stored hash of another length is simply no match
//!   (after the full computation, as in Python).
//!
//! A check is split so that the expensive part can run elsewhere: build a
//! [`Check`] (cheap: parsing), run its [`Eks`] (alone or paired), then
//! [`Check::finish`] with the raw hash.

mod blowfish;
#[rustfmt::skip]
mod pi;

pub use blowfish::{eks, eks2, eks3, Eks};

/// The bytes of a password that count.
pub const MAX_PASSWORD: usize = 72;

/// The length of a hash's text: `$2b$12$`, 22 salt and 31 hash characters.
pub const HASH_LEN: usize = 60;

/// What Python raises (`ValueError`), with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub &'static str);

/// `checkpw`'s `ValueError` for a NUL byte in either argument.
pub const NUL_BYTES: Error = Error("password and hashed_password may not contain NUL bytes");

/// `hashpw`'s `ValueError` for a NUL byte in the password.
pub const NUL_IN_PASSWORD: Error = Error("password may not contain NUL bytes");

/// `ValueError` for a stored hash `bcrypt_hashpass` refuses.
pub const INVALID_SALT: Error = Error("Invalid salt");

const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// bcrypt's base64 (alphabet `./A-Za-z0-9`, no padding): 16 bytes give 22
/// characters, 23 give 31.
pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 4).div_ceil(3));
    let char_of = |v: u32| char::from(ALPHABET[(v & 0x3f) as usize]);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let v = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(char_of(v >> 18));
        out.push(char_of(v >> 12));
        if chunk.len() > 1 {
            out.push(char_of(v >> 6));
        }
        if chunk.len() > 2 {
            out.push(char_of(v));
        }
    }
    out
}

/// OpenBSD's `decode_base64` for the 16 salt bytes: reads 22 characters
/// of the bcrypt alphabet (the last one's low 4 bits are ignored); any
/// other character, or too few, fails.
pub fn decode_salt(text: &[u8]) -> Option<[u8; 16]> {
    let value = |i: usize| -> Option<u32> {
        let c = *text.get(i)?;
        ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
    };
    let mut out = [0u8; 16];
    for (n, chunk) in out.chunks_mut(3).enumerate() {
        let p = 4 * n;
        let mut v = (value(p)? << 18) | (value(p + 1)? << 12);
        if chunk.len() > 1 {
            v |= value(p + 2)? << 6;
        }
        if chunk.len() > 2 {
            v |= value(p + 3)?;
        }
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte = (v >> (16 - 8 * i)) as u8;
        }
    }
    Some(out)
}

/// The part of a stored hash that `bcrypt_hashpass` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The text's prefix: `$2a$`, `$2b$` or `$2y$`.
    pub prefix: [u8; 4],
    pub cost: u32,
    pub salt: [u8; 16],
}

impl Setting {
    /// OpenBSD `bcrypt_hashpass`'s parsing of `$2?$NN$<22 salt chars>…`
    /// (after pyca's rewrite of `$2y$` to `$2b$`); `None` where it fails.
    pub fn parse(stored: &[u8]) -> Option<Setting> {
        let at = |i: usize| stored.get(i).copied().unwrap_or(0);
        if at(0) != b'$' || at(1) != b'2' || at(3) != b'$' || !matches!(at(2), b'a' | b'b' | b'y') {
            return None;
        }
        let (d1, d2) = (at(4), at(5));
        if !d1.is_ascii_digit() || !d2.is_ascii_digit() || at(6) != b'$' {
            return None;
        }
        let cost = u32::from((d1 - b'0') * 10 + (d2 - b'0'));
        if !(4..=31).contains(&cost) {
            return None;
        }
        let salt_text = &stored[7..];
        // `strlen(salt) * 3 / 4 < BCRYPT_MAXSALT` → invalid.
        if salt_text.len() * 3 / 4 < 16 {
            return None;
        }
        Some(Setting { prefix: [b'$', b'2', at(2), b'$'], cost, salt: decode_salt(salt_text)? })
    }

    /// The eksblowfish input for `password` (cut to 72 bytes).
    pub fn eks(&self, password: &[u8]) -> Eks {
        Eks::new(self.cost, &self.salt, password)
    }

    /// The hash's text for the raw hash `raw` of this setting:
    /// `$2?$NN$`, the salt re-encoded, the first 23 raw bytes.
    pub fn text(&self, raw: &[u8; 24]) -> [u8; HASH_LEN] {
        let mut out = [0u8; HASH_LEN];
        out[..4].copy_from_slice(&self.prefix);
        out[4] = b'0' + (self.cost / 10) as u8;
        out[5] = b'0' + (self.cost % 10) as u8;
        out[6] = b'$';
        out[7..29].copy_from_slice(encode_base64(&self.salt).as_bytes());
        out[29..].copy_from_slice(encode_base64(&raw[..23]).as_bytes());
        out
    }
}

/// `bcrypt.hashpw(password, salt)`: the 60-byte text, or what Python
/// raises. (`salt` is read as a C string: up to a NUL byte.)
pub fn hashpw(password: &[u8], salt: &[u8]) -> Result<[u8; HASH_LEN], Error> {
    if password.contains(&0) {
        return Err(NUL_IN_PASSWORD);
    }
    let salt = &salt[..salt.iter().position(|&b| b == 0).unwrap_or(salt.len())];
    let setting = Setting::parse(salt).ok_or(INVALID_SALT)?;
    Ok(setting.text(&setting.eks(password).run(&mut || ())))
}

/// `bcrypt.checkpw(password, stored)`, split in three: [`Check::new`]
/// (parsing, cheap), running [`Check::eks`] (the expensive part), and
/// [`Check::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    setting: Setting,
    eks: Eks,
    stored: Vec<u8>,
}

impl Check {
    /// Fails where `checkpw` raises (a NUL byte, a stored hash
    /// `bcrypt_hashpass` refuses).
    pub fn new(password: &[u8], stored: &[u8]) -> Result<Check, Error> {
        if password.contains(&0) || stored.contains(&0) {
            return Err(NUL_BYTES);
        }
        let setting = Setting::parse(stored).ok_or(INVALID_SALT)?;
        Ok(Check { setting, eks: setting.eks(password), stored: stored.to_vec() })
    }

    /// The expensive part.
    pub fn eks(&self) -> &Eks {
        &self.eks
    }

    /// The stored hash's cost.
    pub fn cost(&self) -> u32 {
        self.setting.cost
    }

    /// Whether the text of `raw` (the result of [`Check::eks`]) is the
    /// stored hash, compared in constant time; of another length it is
    /// not.
    pub fn finish(&self, raw: &[u8; 24]) -> bool {
        constant_time_eq(&self.setting.text(raw), &self.stored)
    }

    /// The whole check on this thread, `pause()` after each expensive round.
    pub fn run(&self, pause: &mut dyn FnMut()) -> bool {
        self.finish(&self.eks.run(pause))
    }
}

/// `bcrypt.checkpw(password, stored)`: `Ok(false)` for a mismatch, `Err`
/// where Python raises.
pub fn checkpw(password: &[u8], stored: &[u8]) -> Result<bool, Error> {
    Ok(Check::new(password, stored)?.run(&mut || ()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
