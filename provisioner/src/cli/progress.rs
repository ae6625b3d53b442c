//! Progress events drawn as a bar on a terminal, with a line per finished
//! step above it; when the output is not a terminal (a pipe, a CI log) the
//! bar hides itself and every line is printed plainly, so none is lost.

use aerie_provisioner::progress::{Progress, Report};

/// A progress bar that draws what `apply` and `destroy` report.
#[derive(Debug)]
pub(crate) struct Bar(indicatif::ProgressBar);

impl Bar {
    pub(crate) fn new() -> Self {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
                .expect("the progress template is valid")
                .progress_chars("=> "),
        );
        Self(bar)
    }

    #[allow(clippy::print_stdout)]
    fn say(&self, line: &str) {
        if self.0.is_hidden() {
            println!("{line}");
        } else {
            self.0.println(line);
        }
    }
}

impl Report for Bar {
    fn report(&self, progress: Progress) {
        match progress {
            Progress::Begin { total } => self.0.set_length(total as u64),
            Progress::Working(what) => self.0.set_message(what),
            Progress::Done(line) => {
                self.0.inc(1);
                self.say(&line);
            }
            Progress::End { ok: true } => self.0.finish_and_clear(),
            Progress::End { ok: false } => self.0.abandon(),
        }
    }
}
