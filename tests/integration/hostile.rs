//! Clients that try to take the server down (issue 13's hostile load),
//! bounded in count and time, on loopback.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ledger_contract::kit::requests::{login, signup};
use ledger_contract::kit::{LedgerBinary, ServerProcess};

/// The process's CPU time (user + system) in seconds, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // the fields after the command name, which is in parentheses
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// One login sent on a fresh connection, which is closed before the
/// answer (a bcrypt check takes ~0.3 s of CPU): the client has gone.
fn impatient_login(server: &ServerProcess, body: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(server.addr) else { return };
    let head = format!(
        "POST /users/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    std::thread::sleep(Duration::from_millis(30));
}

/// 16 clients send logins for 3 s and hang up on each after 30 ms:
/// about 1,600 bcrypt checks (minutes of CPU) for nobody. The checks of
/// clients that have gone are skipped and the queue is bounded, so the
/// bcrypt threads go idle within seconds of the storm, and a request that
/// needs the database (a signup of a known email: no bcrypt) answers at
/// once during and after it.
#[test]
fn an_impatient_login_storm_leaves_no_work_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = LedgerBinary::new(crate::BIN, dir.path()).setting("SECRET_KEY", "storm-key").start().unwrap();
    server.client.io_timeout = Duration::from_secs(5);
    assert_eq!(server.send(&signup("storm@example.com")).status, 201);
    let body = login("storm@example.com").body;
    let known = signup("storm@example.com");
    let cheap = |server: &ServerProcess| {
        let started = Instant::now();
        let answer = server.send(&known);
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(&answer.body));
        started.elapsed()
    };

    let storm_end = Instant::now() + Duration::from_secs(3);
    let mut slowest_during = Duration::ZERO;
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                while Instant::now() < storm_end {
                    impatient_login(&server, &body);
                }
            });
        }
        while Instant::now() < storm_end {
            slowest_during = slowest_during.max(cheap(&server));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // The bcrypt threads drain what is left (at most LOGIN_QUEUE_SECONDS of
    // work, less the skipped checks), then the process idles.
    let pid = server.process.id();
    let settled = Instant::now() + Duration::from_secs(15);
    let idle = loop {
        let before = cpu_seconds(pid);
        std::thread::sleep(Duration::from_secs(1));
        let used = cpu_seconds(pid) - before;
        if used < 0.2 || Instant::now() > settled {
            break used;
        }
    };
    assert!(idle < 0.2, "still {idle:.2} s of CPU a second after the storm: checks for clients that left");
    let after = cheap(&server);
    assert!(slowest_during < Duration::from_secs(2), "a database request took {slowest_during:?} during the storm");
    assert!(after < Duration::from_secs(1), "a database request took {after:?} after the storm");
    // and a patient login still works
    assert_eq!(server.send(&login("storm@example.com")).status, 200);
}
