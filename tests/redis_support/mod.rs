//! A real `redis-server` for tests and benches: started on a free loopback
//! port, answering `PING` before it is handed out, killed on drop.
//!
//! The binary is `redis-server` on `PATH` (Debian's `redis-server`
//! package), or the one named by `REDIS_SERVER`. When it is missing the
//! caller panics with a message saying so: a Redis test never passes
//! without Redis.
#![allow(dead_code, unreachable_pub)]
// Fixture helpers fail loudly, like the tests that call them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A `redis-server` child process on `127.0.0.1`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl RedisServer {
    /// A server without persistence on a free port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with extra command-line arguments (e.g.
    /// `["--cluster-enabled", "yes"]`). Its working directory is a fresh
    /// temporary one.
    pub fn start_with(extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let dir = temp_dir();
        // Another process may take the port between asking and binding.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                child: None,
                port,
                dir: dir.clone(),
                extra: extra.clone(),
            };
            if server.launch() {
                return server;
            }
        }
        panic!("redis-server would not start on a free loopback port (5 tries)");
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL, as a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.launch() {
            assert!(
                Instant::now() < deadline,
                "redis-server would not start again on port {}",
                self.port
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Sends one command and returns the raw RESP reply.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .unwrap_or_else(|e| panic!("redis-server on port {}: {e}", self.port));
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(&encode(args)).unwrap();
        read_reply(&mut stream)
    }

    /// Starts the child and waits for `PING`; false if it exited (port
    /// taken).
    fn launch(&mut self) -> bool {
        let binary = std::env::var_os("REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        let mut command = Command::new(&binary);
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "{} not found: the Redis tests need a real Redis server \
                 (Debian: apt-get install -y redis-server, or set REDIS_SERVER)",
                binary.to_string_lossy()
            ),
            Err(e) => panic!("cannot run {}: {e}", binary.to_string_lossy()),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_status)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            // A PONG from another test's server that took the port first
            // does not count.
            if self.pings() && self.is_ours() {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            sleep(Duration::from_millis(20));
        }
    }

    fn is_ours(&self) -> bool {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return false;
        };
        self.command(&["INFO", "server"])
            .lines()
            .any(|line| line.trim() == format!("process_id:{pid}"))
    }

    fn pings(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn temp_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tower-export-control-redis-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One reply, for the simple replies the tests read (status, error,
/// integer, bulk string): everything until the reply is complete.
fn read_reply(stream: &mut TcpStream) -> String {
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        stream.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
        if reply.ends_with(b"\r\n") {
            if reply[0] == b'$' && reply.len() > 3 && &reply[..3] != b"$-1" {
                let len: usize = std::str::from_utf8(&reply[1..reply.len() - 2])
                    .unwrap()
                    .parse()
                    .unwrap();
                let mut body = vec![0u8; len + 2];
                stream.read_exact(&mut body).unwrap();
                reply.extend_from_slice(&body);
            }
            return String::from_utf8_lossy(&reply).into_owned();
        }
    }
}
