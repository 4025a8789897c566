//! Free local ports.

use std::net::{SocketAddr, TcpListener};

/// A free TCP address on 127.0.0.1 (free when asked; another process may
/// take it before the caller binds it, which is why the spawners retry).
pub fn free_addr() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    listener.local_addr().map_err(|e| format!("local address of a bound socket: {e}"))
}
