//! Eksblowfish, bcrypt's expensive key schedule, written for speed and for
//! running several independent computations interleaved on one thread.
//!
//! One Blowfish encryption is a chain of 16 dependent S-box lookups: its
//! speed is the latency of a load and three ALU operations per round, not
//! the machine's throughput. Two (or three) independent states advanced in
//! the same loop body keep two dependency chains in flight, so a pair of
//! checks costs much less than two.
//!
//! Everything is on the stack: the S-boxes are `[u32; 256]` indexed by a
//! `u8` (no bounds checks), the 16 rounds are unrolled, the key's and the
//! salt's 18 stream words are computed once per check.

use super::pi;

/// The Blowfish state: the P-array and the four S-boxes.
#[derive(Clone)]
struct State {
    p: [u32; 18],
    s: [[u32; 256]; 4],
}

/// One eksblowfish computation in progress.
#[derive(Clone)]
struct Lane {
    state: State,
    /// The key's stream words (the key cycled over 72 bytes).
    key: [u32; 18],
    /// The salt's stream words, cycled the same way (s0 s1 s2 s3 s0 …).
    salt: [u32; 18],
}

/// The round function F.
#[inline(always)]
fn f(s: &[[u32; 256]; 4], x: u32) -> u32 {
    let a = s[0][(x >> 24) as u8 as usize];
    let b = s[1][(x >> 16) as u8 as usize];
    let c = s[2][(x >> 8) as u8 as usize];
    let d = s[3][x as u8 as usize];
    (a.wrapping_add(b) ^ c).wrapping_add(d)
}

/// Encrypts one block in each of `N` lanes, round by round interleaved.
#[inline(always)]
fn encrypt<const N: usize>(lanes: &[Lane; N], l: &mut [u32; N], r: &mut [u32; N]) {
    for j in 0..N {
        l[j] ^= lanes[j].state.p[0];
    }
    macro_rules! round {
        ($x:ident, $y:ident, $n:expr) => {
            for j in 0..N {
                let st = &lanes[j].state;
                // The P word first, off the chain of dependent lookups: the
                // chain is then F and one xor. `black_box` keeps LLVM from
                // reassociating the xors (it would xor F with P, then with
                // x: one more step on the chain, 7 % slower).
                $x[j] = core::hint::black_box($x[j] ^ st.p[$n]) ^ f(&st.s, $y[j]);
            }
        };
    }
    round!(r, l, 1);
    round!(l, r, 2);
    round!(r, l, 3);
    round!(l, r, 4);
    round!(r, l, 5);
    round!(l, r, 6);
    round!(r, l, 7);
    round!(l, r, 8);
    round!(r, l, 9);
    round!(l, r, 10);
    round!(r, l, 11);
    round!(l, r, 12);
    round!(r, l, 13);
    round!(l, r, 14);
    round!(r, l, 15);
    round!(l, r, 16);
    for j in 0..N {
        let x = l[j];
        l[j] = r[j] ^ lanes[j].state.p[17];
        r[j] = x;
    }
}

/// Which stream words `expand` mixes into the blocks it encrypts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Data {
    /// None: OpenBSD's `Blowfish_expand0state`.
    Zero,
    /// The salt's (`Blowfish_expandstate`).
    Salt,
}

/// `Blowfish_expand0state(key)` (or `expandstate(salt, key)`) on `N` lanes
/// at once; `salt_key` picks the salt's words as the key.
#[inline(always)]
fn expand<const N: usize>(lanes: &mut [Lane; N], salt_key: bool, data: Data) {
    for lane in lanes.iter_mut() {
        let words = if salt_key { lane.salt } else { lane.key };
        for (p, w) in lane.state.p.iter_mut().zip(words) {
            *p ^= w;
        }
    }
    let (mut l, mut r) = ([0u32; N], [0u32; N]);
    // the data stream: 16 salt bytes, 4 words, two per block
    let mix = |lanes: &[Lane; N], l: &mut [u32; N], r: &mut [u32; N], block: usize| {
        if data == Data::Salt {
            for j in 0..N {
                l[j] ^= lanes[j].salt[(2 * block) % 4];
                r[j] ^= lanes[j].salt[(2 * block + 1) % 4];
            }
        }
    };
    for i in 0..9 {
        mix(lanes, &mut l, &mut r, i);
        encrypt(lanes, &mut l, &mut r);
        for j in 0..N {
            lanes[j].state.p[2 * i] = l[j];
            lanes[j].state.p[2 * i + 1] = r[j];
        }
    }
    for b in 0..4 {
        for k in 0..128 {
            mix(lanes, &mut l, &mut r, 9 + 128 * b + k);
            encrypt(lanes, &mut l, &mut r);
            for j in 0..N {
                lanes[j].state.s[b][2 * k] = l[j];
                lanes[j].state.s[b][2 * k + 1] = r[j];
            }
        }
    }
}

/// `rounds` of the expensive loop on `N` lanes: {expand0(key);
/// expand0(salt)}, `pause()` after each.
#[inline(never)]
fn expensive<const N: usize>(lanes: &mut [Lane; N], rounds: u64, pause: &mut dyn FnMut()) {
    for _ in 0..rounds {
        expand(lanes, false, Data::Zero);
        expand(lanes, true, Data::Zero);
        pause();
    }
}

/// The 72-byte stream of `bytes` cycled, as 18 big-endian words
/// (`Blowfish_stream2word`); `bytes` must not be empty.
fn stream_words(bytes: &[u8]) -> [u32; 18] {
    let mut stream = bytes.iter().copied().cycle();
    let mut words = [0u32; 18];
    for w in &mut words {
        for _ in 0..4 {
            *w = (*w << 8) | u32::from(stream.next().unwrap_or(0));
        }
    }
    words
}

impl Lane {
    /// The state after `Blowfish_initstate` and `expandstate(salt, key)`.
    fn new(salt: &[u8; 16], key: &[u8]) -> Lane {
        // the key: cut to 72 bytes, NUL appended, cycled
        let mut padded = [0u8; 73];
        let len = key.len().min(72);
        padded[..len].copy_from_slice(&key[..len]);
        let mut lane =
            Lane { state: State { p: pi::P, s: pi::S }, key: stream_words(&padded[..=len]), salt: stream_words(salt) };
        expand(core::array::from_mut(&mut lane), false, Data::Salt);
        lane
    }

    /// Encrypts "OrpheanBeholderScryDoubt" 64 times: the raw hash.
    fn finish(&self) -> [u8; 24] {
        let mut text = stream_words(b"OrpheanBeholderScryDoubt");
        let lane = core::array::from_ref(self);
        for _ in 0..64 {
            for block in 0..3 {
                let (mut l, mut r) = ([text[2 * block]], [text[2 * block + 1]]);
                encrypt(lane, &mut l, &mut r);
                (text[2 * block], text[2 * block + 1]) = (l[0], r[0]);
            }
        }
        let mut out = [0u8; 24];
        for (chunk, word) in out.chunks_exact_mut(4).zip(text) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// The number of expensive rounds of `cost` (a cost above 31 counts as 31).
fn rounds(cost: u32) -> u64 {
    1u64 << cost.min(31)
}

/// One eksblowfish input: cost, salt and key (its first 72 bytes count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eks {
    cost: u32,
    salt: [u8; 16],
    key: [u8; 72],
    key_len: u8,
}

impl Eks {
    /// `key` past its first 72 bytes is ignored, as OpenBSD's bcrypt does
    /// (pyca's bcrypt cuts the password to 72 bytes first). A cost above 31
    /// counts as 31.
    pub fn new(cost: u32, salt: &[u8; 16], key: &[u8]) -> Eks {
        let len = key.len().min(72);
        let mut cut = [0u8; 72];
        cut[..len].copy_from_slice(&key[..len]);
        Eks { cost: cost.min(31), salt: *salt, key: cut, key_len: len as u8 }
    }

    /// The cost (4 to 31 for a real check).
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// The salt's 16 bytes.
    pub fn salt(&self) -> &[u8; 16] {
        &self.salt
    }

    fn lane(&self) -> Lane {
        Lane::new(&self.salt, &self.key[..usize::from(self.key_len)])
    }

    /// The raw hash; `pause()` is called after each expensive round.
    pub fn run(&self, pause: &mut dyn FnMut()) -> [u8; 24] {
        let mut lane = [self.lane()];
        expensive(&mut lane, rounds(self.cost), pause);
        lane[0].finish()
    }
}

/// The raw 24-byte ciphertext of "OrpheanBeholderScryDoubt" after the
/// eksblowfish setup of `cost` (2^cost expensive rounds), `salt` and `key`
/// (bcrypt's key: the password's first 72 bytes and a NUL). `pause()` is
/// called once per expensive round.
pub fn eks(cost: u32, salt: &[u8; 16], key: &[u8], pause: &mut dyn FnMut()) -> [u8; 24] {
    Eks::new(cost, salt, key).run(pause)
}

/// Two independent computations interleaved on the calling thread: the
/// same results as `(a.run(), b.run())` in about 0.6–0.7 of the time. Of
/// two different costs the common rounds are interleaved and the longer
/// finishes alone. `pause()` is called once per expensive round (of the
/// pair, or of the one left).
pub fn eks2(a: &Eks, b: &Eks, pause: &mut dyn FnMut()) -> ([u8; 24], [u8; 24]) {
    let mut lanes = [a.lane(), b.lane()];
    let (ra, rb) = (rounds(a.cost), rounds(b.cost));
    let common = ra.min(rb);
    expensive(&mut lanes, common, pause);
    let [la, lb] = &mut lanes;
    expensive(core::array::from_mut(la), ra - common, pause);
    expensive(core::array::from_mut(lb), rb - common, pause);
    (la.finish(), lb.finish())
}

/// Three computations interleaved, like [`eks2`].
pub fn eks3(a: &Eks, b: &Eks, c: &Eks, pause: &mut dyn FnMut()) -> [[u8; 24]; 3] {
    let mut lanes = [a.lane(), b.lane(), c.lane()];
    let rounds = [rounds(a.cost), rounds(b.cost), rounds(c.cost)];
    let common = rounds.iter().copied().min().unwrap_or(0);
    expensive(&mut lanes, common, pause);
    // the rest of each alone
    for (lane, rounds) in lanes.iter_mut().zip(rounds) {
        expensive(core::array::from_mut(lane), rounds - common, pause);
    }
    [lanes[0].finish(), lanes[1].finish(), lanes[2].finish()]
}
