//! Host metrics every interval: CPU (total and per core, percent 0-100), load,
//! memory and swap, filesystem usage per mount, disk I/O and network bytes
//! per interval, product health (HTTP URLs, processes) and the clock's offset
//! from an NTP server.

mod checks;
mod net_dev;
mod ntp;

use std::time::Duration;

use aerie_wire::Event;
use chrono::Utc;
use sysinfo::{DiskRefreshKind, Disks, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};

pub use checks::{HealthCheckConfig, ProcessCheckConfig};
pub use ntp::{NtpConfig, clock_offset};

use super::metric;

/// What is kept between collections (CPU and I/O counters are differences).
#[derive(Debug)]
pub struct HostMetrics {
    host: String,
    system: System,
    disks: Disks,
    networks: net_dev::NetDev,
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

impl HostMetrics {
    pub fn new(host: &str) -> Result<Self, sysinfo::Error> {
        let mut system = System::new_with_specifics(RefreshKind::nothing())?;
        system.refresh_cpu_usage();
        Ok(Self {
            host: host.to_owned(),
            system,
            disks: Disks::new_with_refreshed_list()?,
            networks: net_dev::NetDev::new(),
        })
    }

    /// One sample of every host metric.
    pub fn collect(&mut self) -> Vec<Event> {
        let now = Utc::now();
        let host = self.host.clone();
        let mut events = Vec::with_capacity(64);
        let mut push = |name: &str, value: f64, labels: &[(&str, &str)]| {
            events.push(metric(&host, now, name, value, labels));
        };

        self.system.refresh_cpu_usage();
        push(
            "system.cpu.total.pct",
            f64::from(self.system.global_cpu_usage()),
            &[],
        );
        for (index, cpu) in self.system.cpus().iter().enumerate() {
            push(
                "system.cpu.core.pct",
                f64::from(cpu.usage()),
                &[("core", &index.to_string())],
            );
        }
        if let Ok(load) = System::load_average() {
            push("system.load.1", load.one, &[]);
            push("system.load.5", load.five, &[]);
            push("system.load.15", load.fifteen, &[]);
        }

        self.system.refresh_memory();
        let (total, used) = (
            self.system.total_memory() as f64,
            self.system.used_memory() as f64,
        );
        push("system.memory.total.bytes", total, &[]);
        push("system.memory.used.bytes", used, &[]);
        push("system.memory.used.pct", percent(used, total), &[]);
        let (swap_total, swap_used) = (
            self.system.total_swap() as f64,
            self.system.used_swap() as f64,
        );
        push("system.swap.used.bytes", swap_used, &[]);
        push("system.swap.used.pct", percent(swap_used, swap_total), &[]);

        // Usage and I/O only: a disk's kind (sysfs lookups) is read once.
        self.disks.refresh_specifics(
            true,
            DiskRefreshKind::nothing().with_storage().with_io_usage(),
        );
        for disk in &self.disks {
            let mount = disk.mount_point().display().to_string();
            let total = disk.total_space() as f64;
            let used = total - disk.available_space() as f64;
            push("system.filesystem.total.bytes", total, &[("mount", &mount)]);
            push("system.filesystem.used.bytes", used, &[("mount", &mount)]);
            push(
                "system.filesystem.used.pct",
                percent(used, total),
                &[("mount", &mount)],
            );
            let usage = disk.usage();
            push(
                "system.diskio.read.bytes",
                usage.read_bytes as f64,
                &[("mount", &mount)],
            );
            push(
                "system.diskio.write.bytes",
                usage.written_bytes as f64,
                &[("mount", &mount)],
            );
        }

        for (interface, grown) in self.networks.sample() {
            let labels = [("interface", interface.as_str())];
            push("system.network.in.bytes", grown.in_bytes as f64, &labels);
            push("system.network.out.bytes", grown.out_bytes as f64, &labels);
            push("system.network.in.errors", grown.in_errors as f64, &labels);
            push(
                "system.network.out.errors",
                grown.out_errors as f64,
                &labels,
            );
        }
        events
    }

    /// Liveness of each configured process: `aerie.process.up` and `.count`.
    pub fn processes(&mut self, checks: &[ProcessCheckConfig]) -> Vec<Event> {
        if checks.is_empty() {
            return Vec::new();
        }
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_cmd(sysinfo::UpdateKind::OnlyIfNotSet),
        );
        let now = Utc::now();
        checks
            .iter()
            .flat_map(|check| {
                let count = self
                    .system
                    .processes()
                    .values()
                    .filter(|process| {
                        let command = process
                            .cmd()
                            .iter()
                            .map(|part| part.to_string_lossy())
                            .collect::<Vec<_>>()
                            .join(" ");
                        command.contains(&check.pattern)
                    })
                    .count() as f64;
                let labels = [("process", check.name.as_str())];
                [
                    metric(
                        &self.host,
                        now,
                        "aerie.process.up",
                        f64::from(u8::from(count > 0.0)),
                        &labels,
                    ),
                    metric(&self.host, now, "aerie.process.count", count, &labels),
                ]
            })
            .collect()
    }
}

/// The default time a health check may take.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
