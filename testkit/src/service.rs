//! One supervised child process per service: its own process group (so a
//! browser's helpers go with it), killed when the parent dies, output in a log
//! file kept only when the test fails.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::Error;
use crate::paths::log_dir;

/// How a service is started: its name, the program, and how to install it.
pub(crate) struct Launch<'a> {
    pub(crate) service: &'static str,
    pub(crate) program: &'a Path,
    pub(crate) fix: &'static str,
    pub(crate) timeout: Duration,
}

/// A running process started by a test: a service, or one of Aerie's own
/// binaries. Its output goes to a log file (kept if the test fails), it runs
/// in its own process group, and dropping it stops the whole group.
#[derive(Debug)]
pub struct ServiceProcess {
    service: &'static str,
    child: Child,
    log: PathBuf,
}

impl Launch<'_> {
    /// Starts the program on a free port (`args(port)` gives its arguments)
    /// and polls `ready(port)` until it answers. A port taken between
    /// choosing and binding is retried on another port.
    pub(crate) async fn start(
        &self,
        args: impl Fn(u16) -> Vec<std::ffi::OsString>,
        envs: &[(&str, &str)],
        ready: impl AsyncFn(u16) -> bool,
    ) -> Result<(ServiceProcess, u16), Error> {
        if !self.program.exists() {
            return Err(Error::NotInstalled {
                tool: self.service,
                path: self.program.to_path_buf(),
                fix: self.fix,
            });
        }
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let port = free_port()?;
            let mut command = Command::new(self.program);
            command.args(args(port)).envs(envs.iter().copied());
            let mut process = ServiceProcess::spawn(self.service, self.program, self.fix, command)?;
            match process.wait_ready(self.timeout, || ready(port)).await {
                Ok(()) => return Ok((process, port)),
                Err(error) if attempt < ATTEMPTS && lost_its_port(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        unreachable!("the last attempt returns")
    }
}

impl ServiceProcess {
    /// Starts `command` (for example one of Aerie's binaries) as `name`.
    pub fn start(name: &'static str, command: Command) -> Result<Self, Error> {
        let program = PathBuf::from(command.get_program());
        Self::spawn(name, &program, "cargo build --workspace", command)
    }

    /// Kills the process group with SIGKILL, as a crash would, and waits for it.
    pub fn kill_hard(&mut self) {
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits up to `timeout` for it.
    /// Answers whether it exited in time.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        self.signal_group(libc::SIGTERM);
        self.wait_for_exit(timeout)
    }

    /// Waits up to `timeout` for the process to exit; answers whether it did.
    /// A process gives no event to wait on here, so this polls it.
    fn wait_for_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            #[expect(
                clippy::disallowed_methods,
                reason = "polling an exit status, within a deadline"
            )]
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Its process id (also its process group's id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything it has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn(
        service: &'static str,
        program: &Path,
        fix: &'static str,
        mut command: Command,
    ) -> Result<Self, Error> {
        let dir = log_dir();
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let log = dir.join(format!(
            "{service}-{}-{}.log",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let out = File::create(&log).map_err(|source| Error::Io {
            what: format!("creating {}", log.display()),
            source,
        })?;
        let err = out.try_clone().map_err(|source| Error::Io {
            what: format!("opening {}", log.display()),
            source,
        })?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|source| Error::Spawn {
            service,
            program: program.to_path_buf(),
            fix,
            source,
        })?;
        Ok(Self {
            service,
            child,
            log,
        })
    }

    async fn wait_ready(
        &mut self,
        timeout: Duration,
        ready: impl AsyncFn() -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Exited {
                    service: self.service,
                    status,
                    log: self.log.clone(),
                    tail: self.log_tail(30),
                });
            }
            if ready().await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    service: self.service,
                    timeout,
                    log: self.log.clone(),
                    tail: self.log_tail(30),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last `lines` lines of the service's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(file) = File::open(&self.log) else {
            return String::new();
        };
        let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn signal_group(&self, signal: libc::c_int) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals the process group we
        // created for this child; it touches no memory of ours.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.signal_group(libc::SIGTERM);
        self.wait_for_exit(Duration::from_secs(3));
        // Helpers (Chromium's renderers) may outlive their leader: kill the group.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "testkit: {} log kept at {}; last lines:\n{}",
                self.service,
                self.log.display(),
                self.log_tail(40)
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago and that this process has
/// not handed out before: a cluster's nodes choose their ports one after
/// another, and a port released by the kernel is often handed out again at
/// once, so without the memory a node's HTTP port could be another's
/// transport port.
pub fn free_port() -> Result<u16, Error> {
    static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(Error::NoFreePort)?;
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
}

/// Whether `error` is a service that exited because a port it was given was
/// taken by then. Java prints the cause above a long stack trace, so the
/// whole log is read, not only its tail.
pub(crate) fn lost_its_port(error: &Error) -> bool {
    let Error::Exited { log, tail, .. } = error else {
        return false;
    };
    let text = std::fs::read_to_string(log).unwrap_or_else(|_| tail.clone());
    let text = text.to_lowercase();
    text.contains("address already in use") || text.contains("bindexception")
}

/// Asks the kernel to kill the child when the test process dies, so a test
/// killed by a timeout leaves no server behind.
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls prctl(2), which is async-signal-safe.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_program_says_how_to_install_it() {
        let launch = Launch {
            service: "moto_server",
            program: Path::new("/nonexistent/bin/moto_server"),
            fix: INSTALL_FIX_FOR_TEST,
            timeout: Duration::from_secs(1),
        };
        let error = launch
            .start(|_| Vec::new(), &[], async |_| true)
            .await
            .expect_err("a missing program cannot start");
        let message = error.to_string();
        assert!(
            message.contains("moto_server is not installed"),
            "{message}"
        );
        assert!(
            message.contains("/nonexistent/bin/moto_server"),
            "{message}"
        );
        assert!(message.contains(INSTALL_FIX_FOR_TEST), "{message}");
    }

    #[tokio::test]
    async fn a_port_lost_above_a_long_stack_trace_is_tried_again_on_another_port() {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "if [ -e {d}/first ]; then touch {d}/ready; exec sleep 30; fi; touch {d}/first; \
             echo 'java.net.BindException: Address already in use' >&2; \
             for i in $(seq 80); do echo \"\tat io.netty.Frame$i(Frame.java:$i)\" >&2; done; exit 1",
            d = dir.path().display()
        );
        let launch = Launch {
            service: "binder",
            program: Path::new("/bin/sh"),
            fix: INSTALL_FIX_FOR_TEST,
            timeout: Duration::from_secs(10),
        };
        let ready = dir.path().join("ready");
        let (_process, _port) = launch
            .start(
                |_| vec!["-c".into(), script.clone().into()],
                &[],
                async |_| ready.exists(),
            )
            .await
            .expect("the second attempt binds");
    }

    #[test]
    fn free_port_never_hands_out_the_same_port_twice() {
        let ports: Vec<u16> = (0..200).map(|_| free_port().unwrap()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }

    #[tokio::test]
    async fn a_program_that_dies_reports_its_status_and_log() {
        let launch = Launch {
            service: "doomed",
            program: Path::new("/bin/sh"),
            fix: INSTALL_FIX_FOR_TEST,
            timeout: Duration::from_secs(10),
        };
        let error = launch
            .start(
                |_| vec!["-c".into(), "echo cannot open data dir >&2; exit 3".into()],
                &[],
                async |_| false,
            )
            .await
            .expect_err("the program exits before it is ready");
        match error {
            Error::Exited { status, tail, .. } => {
                assert_eq!(status.code(), Some(3));
                assert!(tail.contains("cannot open data dir"), "{tail}");
            }
            other => panic!("expected Exited, got {other}"),
        }
    }

    #[tokio::test]
    async fn a_program_that_never_answers_times_out_and_is_stopped() {
        let launch = Launch {
            service: "silent",
            program: Path::new("/bin/sleep"),
            fix: INSTALL_FIX_FOR_TEST,
            timeout: Duration::from_millis(300),
        };
        let error = launch
            .start(|_| vec!["600".into()], &[], async |_| false)
            .await
            .expect_err("sleep never answers");
        assert!(
            matches!(
                error,
                Error::NotReady {
                    service: "silent",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn dropping_a_service_stops_its_whole_process_group() {
        let launch = Launch {
            service: "parent",
            program: Path::new("/bin/sh"),
            fix: INSTALL_FIX_FOR_TEST,
            timeout: Duration::from_secs(10),
        };
        let (process, _) = launch
            .start(
                |_| vec!["-c".into(), "sleep 600 & echo $! ; wait".into()],
                &[],
                async |_| true,
            )
            .await
            .expect("sh starts");
        let log = process.log.clone();
        let grandchild: libc::pid_t = crate::wait_until(
            "the child to print its pid",
            Duration::from_secs(5),
            async || std::fs::read_to_string(&log).ok()?.trim().parse().ok(),
        )
        .await
        .expect("pid printed");
        drop(process);
        // Killed processes may linger as zombies until reaped: those count as gone.
        let running = || {
            std::fs::read_to_string(format!("/proc/{grandchild}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        };
        crate::wait_until(
            "the service's child to die with it",
            Duration::from_secs(5),
            async || (!running()).then_some(()),
        )
        .await
        .expect("the child of a dropped service must not outlive it");
    }

    const INSTALL_FIX_FOR_TEST: &str = "scripts/install-test-deps";
}
