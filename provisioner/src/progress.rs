//! What `apply` and `destroy` report as they go, as events: the CLI draws
//! them (a progress bar, or plain lines when the output is not a terminal),
//! a scheduler running the same executor headless logs them. The library
//! itself never prints.

/// One thing that happened during an apply or a destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `total` steps are about to run.
    Begin { total: usize },
    /// A step started (`creating nat`).
    Working(String),
    /// A step ended: `+ created vpc vpc (vpc-1)`, `- removed ...`, or `! nat: why`.
    Done(String),
    /// Every step has run (`ok`), or the run stopped on a failure.
    End { ok: bool },
}

/// Where progress goes.
pub trait Report: Sync {
    fn report(&self, progress: Progress);
}

impl<F: Fn(Progress) + Sync> Report for F {
    fn report(&self, progress: Progress) {
        self(progress);
    }
}
