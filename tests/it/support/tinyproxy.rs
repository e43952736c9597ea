//! A real HTTP proxy on loopback for the proxy tests: Debian's `tinyproxy`, started from a
//! temporary config (a free port, `Allow 127.0.0.1`, optional `BasicAuth`, no `ConnectPort` line
//! so `CONNECT` reaches any port, the emulator's included), waited for with a deadline and
//! killed on drop. Its log (`LogLevel Info`) records every request line, so a test counts
//! the tunnels that really went through it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs it.
const CANDIDATES: &[&str] = &["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"];

pub struct Tinyproxy {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The executable, or a failed test naming the package (CI installs it: .ci/deps.sh).
fn exe() -> &'static Path {
    CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "tinyproxy is not installed (the proxy tests run a real authenticating proxy): \
                 apt-get install tinyproxy-bin (.ci/deps.sh does)"
            )
        })
}

impl Tinyproxy {
    /// Starts one, with `BasicAuth user password` when given.
    pub fn start(basic_auth: Option<(&str, &str)>) -> Self {
        let exe = exe();
        let mut last = String::new();
        // A free port can be taken between our probe and tinyproxy's bind: try a few.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = dir.path().join("tinyproxy.log");
            let mut conf = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Info\n\
                 PidFile \"{}\"\nMaxClients 64\nAllow 127.0.0.1\nDisableViaHeader Yes\n",
                log.display(),
                dir.path().join("tinyproxy.pid").display()
            );
            if let Some((u, p)) = basic_auth {
                conf.push_str(&format!("BasicAuth {u} {p}\n"));
            }
            let conf_path = dir.path().join("tinyproxy.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let mut child = Command::new(exe)
                .arg("-d")
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Tinyproxy {
                        child,
                        port,
                        log,
                        _dir: dir,
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    last = format!("tinyproxy exited ({status}): {err}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = "tinyproxy did not listen within 10 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("{last}");
    }

    /// `http://127.0.0.1:PORT`, with `user@` in front of the host when given.
    pub fn url(&self, user: Option<&str>) -> String {
        match user {
            Some(u) => format!("http://{u}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many `CONNECT host:port` requests reached it (answered or refused).
    pub fn connects_to(&self, hostport: &str) -> usize {
        let needle = format!("CONNECT {hostport} ");
        self.log().lines().filter(|l| l.contains(&needle)).count()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
