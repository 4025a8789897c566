//! Free local ports.
//!
//! A port the kernel hands out for `bind(0)` comes from the ephemeral
//! range, which is also where every outgoing connection (to PostgreSQL,
//! MariaDB, the oracle, a server under test) takes its source port: under a
//! parallel test run one of those can take the port between the probe and
//! the server's own bind. So the port is drawn at random from *below* the
//! ephemeral range, where only listeners live, and probed with a bind.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, TcpListener};

/// The lowest port drawn from; below it live the well-known and
/// registered services a machine may run (5432, 3306, 6432, 8000, …).
const FLOOR: u16 = 12_000;

/// A free TCP address on 127.0.0.1 (free when asked; another listener may
/// take it before the caller binds it, which is why the spawners retry).
pub fn free_addr() -> Result<SocketAddr, String> {
    let ceiling = ephemeral_floor().unwrap_or(32_768);
    if ceiling > FLOOR + 1_000 {
        for _ in 0..64 {
            let port = FLOOR + (random() % u64::from(ceiling - FLOOR)) as u16;
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                return listener.local_addr().map_err(|e| format!("local address of a bound socket: {e}"));
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    listener.local_addr().map_err(|e| format!("local address of a bound socket: {e}"))
}

/// The first port of the kernel's ephemeral range (Linux), if readable.
fn ephemeral_floor() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// 64 random bits (std's per-instance hasher keys are random).
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_ephemeral_range_and_are_free() {
        let ceiling = ephemeral_floor().expect("Linux publishes its ephemeral range");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let addr = free_addr().unwrap();
            assert!((FLOOR..ceiling).contains(&addr.port()), "{addr} is not in {FLOOR}..{ceiling}");
            TcpListener::bind(addr).unwrap_or_else(|e| panic!("{addr} was handed out but is taken: {e}"));
            seen.insert(addr.port());
        }
        assert!(seen.len() > 10, "ports are not drawn at random: {seen:?}");
    }
}
