//! Charts drawn on the server as SVG: no chart library, no script, a page
//! that shows its data the moment it arrives. A line chart's series are each
//! one `<polyline>` and it says how many points it holds in `data-points`;
//! the logs page's hit histogram is one `<rect class="bar">` per bucket
//! with lines, its count in `data-count`.

use std::fmt::Write;

use crate::store::Series;

/// How a chart's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Percent,
    Bytes,
    Plain,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
const COLOURS: [&str; 8] = [
    "#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b", "#975a16", "#4a5568",
];

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as the axis and legend show it.
pub(super) fn format(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{value:.0}%"),
        Unit::Bytes => {
            let units = ["B", "KiB", "MiB", "GiB", "TiB"];
            let mut scaled = value;
            let mut index = 0;
            while scaled.abs() >= 1024.0 && index < units.len() - 1 {
                scaled /= 1024.0;
                index += 1;
            }
            if index == 0 || scaled.abs() >= 100.0 {
                format!("{scaled:.0} {}", units[index])
            } else {
                format!("{scaled:.1} {}", units[index])
            }
        }
        Unit::Plain => {
            if value.abs() >= 1e6 {
                format!("{:.1}M", value / 1e6)
            } else if value.abs() >= 1e4 {
                format!("{:.0}k", value / 1e3)
            } else if value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.2}")
            }
        }
    }
}

/// A round number at least `raw`: 1, 2 or 5 times a power of ten (or of
/// 1024 for bytes).
fn nice_ceiling(raw: f64, unit: Unit) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    if unit == Unit::Percent && raw <= 100.0 {
        return 100.0;
    }
    let base: f64 = if unit == Unit::Bytes { 1024.0 } else { 10.0 };
    let magnitude = base.powf(raw.log(base).floor());
    for step in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1024.0] {
        if magnitude * step >= raw {
            return magnitude * step;
        }
    }
    raw
}

/// One labelled line of a chart.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) label: String,
    /// `[unix milliseconds, value]`, oldest first.
    pub(super) points: Vec<(i64, f64)>,
}

/// Lines from series, named by their labels (or `name` when they have none).
pub(super) fn lines(name: &str, series: Vec<Series>) -> Vec<Line> {
    series
        .into_iter()
        .map(|s| Line {
            label: if s.labels.is_empty() {
                name.to_owned()
            } else {
                s.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            points: s.points,
        })
        .collect()
}

/// The SVG of `lines` over `[from_ms, to_ms]`.
pub(super) fn svg(title: &str, lines: &[Line], from_ms: i64, to_ms: i64, unit: Unit) -> String {
    let span = (to_ms - from_ms).max(1) as f64;
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let top = nice_ceiling(max, unit);
    let x = |ms: i64| LEFT + (ms - from_ms) as f64 / span * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - v / top) * (HEIGHT - TOP - BOTTOM);
    let points: usize = lines.iter().map(|l| l.points.len()).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" data-points="{points}" preserveAspectRatio="none">"#,
        escape(title)
    );
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let _ = write!(
            out,
            r##"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(value) + 4.0,
            escape(&format(value, unit)),
            y = y(value),
        );
    }
    for step in 0..=4 {
        let ms = from_ms + (span * f64::from(step) / 4.0) as i64;
        let label = chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| {
                let t = t.with_timezone(&chrono::Local);
                if span > 2.0 * 86_400_000.0 {
                    t.format("%b %d %H:%M").to_string()
                } else {
                    t.format("%H:%M").to_string()
                }
            })
            .unwrap_or_default();
        let anchor = match step {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{}" text-anchor="{anchor}">{label}</text>"#,
            x(ms),
            HEIGHT - 6.0
        );
    }
    for (index, line) in lines.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let mut coordinates = String::with_capacity(line.points.len() * 14);
        for &(ms, value) in &line.points {
            let _ = write!(coordinates, "{:.1},{:.1} ", x(ms), y(value));
        }
        let _ = write!(
            out,
            r#"<polyline class="series" fill="none" stroke="{colour}" stroke-width="1.5" data-series="{}" data-count="{}" points="{}"><title>{}</title></polyline>"#,
            escape(&line.label),
            line.points.len(),
            coordinates.trim_end(),
            escape(&line.label)
        );
    }
    out.push_str("</svg>");
    out
}

/// The hit histogram of a log search over `[from_ms, to_ms]`: a bar per
/// bucket of `step_ms` that has lines (`(start_ms, count)`).
pub(super) fn bars(
    title: &str,
    buckets: &[(i64, u64)],
    step_ms: i64,
    from_ms: i64,
    to_ms: i64,
) -> String {
    const TALL: f64 = 90.0;
    let span = (to_ms - from_ms).max(1) as f64;
    let top = nice_ceiling(
        buckets.iter().map(|b| b.1).max().unwrap_or(0) as f64,
        Unit::Plain,
    );
    let x = |ms: i64| {
        LEFT + (ms.clamp(from_ms, to_ms) - from_ms) as f64 / span * (WIDTH - LEFT - RIGHT)
    };
    let y = |v: f64| TOP + (1.0 - v / top) * (TALL - TOP - BOTTOM);
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart hits" viewBox="0 0 {WIDTH} {TALL}" role="img" aria-label="{}" data-total="{total}" preserveAspectRatio="none">"#,
        escape(title)
    );
    for value in [0.0, top] {
        let _ = write!(
            out,
            r##"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(value) + 4.0,
            escape(&format(value, Unit::Plain)),
            y = y(value),
        );
    }
    for &(start, count) in buckets {
        let (left, right) = (x(start), x(start + step_ms));
        let when = chrono::DateTime::from_timestamp_millis(start)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<rect class="bar" x="{left:.1}" y="{:.1}" width="{:.1}" height="{:.1}" data-start="{start}" data-count="{count}"><title>{when}: {count} lines</title></rect>"#,
            y(count as f64),
            (right - left - 1.0).max(1.0),
            y(0.0) - y(count as f64),
        );
    }
    out.push_str("</svg>");
    out
}

/// The legend of `lines`: each label with its colour and latest value.
pub(super) fn legend(lines: &[Line], unit: Unit) -> String {
    let mut out = String::from(r#"<ul class="legend">"#);
    for (index, line) in lines.iter().enumerate() {
        let latest = line
            .points
            .last()
            .map(|p| format(p.1, unit))
            .unwrap_or_else(|| "no data".into());
        let _ = write!(
            out,
            r#"<li><svg class="swatch" viewBox="0 0 10 10"><rect width="10" height="10" fill="{}"/></svg>{} <b>{}</b></li>"#,
            COLOURS[index % COLOURS.len()],
            escape(&line.label),
            escape(&latest)
        );
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_every_point_and_escapes_labels() {
        let lines = vec![
            Line {
                label: "mount=/<x>".into(),
                points: vec![(0, 10.0), (30_000, 55.0), (60_000, 99.0)],
            },
            Line {
                label: "mount=/data".into(),
                points: vec![(0, 5.0)],
            },
        ];
        let svg = svg("Disk", &lines, 0, 60_000, Unit::Percent);
        assert!(svg.contains(r#"data-points="4""#), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("mount=/&lt;x&gt;") && !svg.contains("/<x>"));
        assert!(svg.contains(">100%<"), "the axis tops at 100%: {svg}");
        // The last point sits at the right edge and the top of the scale.
        assert!(svg.contains("708.0,"), "{svg}");
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(format(1536.0, Unit::Bytes), "1.5 KiB");
        assert_eq!(
            format(3.0 * 1024.0 * 1024.0 * 1024.0, Unit::Bytes),
            "3.0 GiB"
        );
        assert_eq!(format(42.4, Unit::Percent), "42%");
        assert_eq!(format(0.25, Unit::Plain), "0.25");
        assert_eq!(nice_ceiling(730.0, Unit::Plain), 1000.0);
        assert_eq!(nice_ceiling(3.2, Unit::Plain), 5.0);
    }
}
