//! `idrisk tune --html`: one self-contained page (no script, no network request) with the
//! sweep's recall against false alarms as an SVG scatter plot, its Pareto front and pick,
//! and the table of every point. Hand-drawn SVG: a few dozen points and two axes need no
//! charting library, and the page stays a few kilobytes that open anywhere.

use std::fmt::Write;

use super::{Point, Tuning};

pub use crate::report::html::escape;

fn settings_text(point: &Point) -> String {
    point
        .settings
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page.
pub fn page(tuning: &Tuning) -> String {
    const W: f64 = 640.0;
    const H: f64 = 400.0;
    const LEFT: f64 = 60.0;
    const BOTTOM: f64 = 50.0;
    let max_fa = tuning
        .points
        .iter()
        .map(|p| p.false_alarms_per_10k)
        .fold(0.0_f64, f64::max)
        .max(0.01)
        * 1.1;
    let x = |fa: f64| LEFT + fa / max_fa * (W - LEFT - 20.0);
    let y = |recall: f64| (H - BOTTOM) - recall * (H - BOTTOM - 20.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="recall against false alarms">"##
    );
    // Axes, grid and ticks.
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{LEFT}" y1="20" x2="{LEFT}" y2="{b}" stroke="#333"/>"##,
        b = H - BOTTOM,
        r = W - 20.0
    );
    for k in 0..=5 {
        let recall = k as f64 / 5.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{py}" x2="{r}" y2="{py}" stroke="#ddd"/><text x="{tx}" y="{ty}" font-size="11" text-anchor="end">{recall:.1}</text>"##,
            py = y(recall),
            r = W - 20.0,
            tx = LEFT - 6.0,
            ty = y(recall) + 4.0
        );
        let fa = max_fa * k as f64 / 5.0;
        let _ = write!(
            svg,
            r##"<text x="{px}" y="{ty}" font-size="11" text-anchor="middle">{fa:.2}</text>"##,
            px = x(fa),
            ty = H - BOTTOM + 16.0
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{cx}" y="{ty}" font-size="12" text-anchor="middle">false alarms per 10k interactive sign-ins</text><text x="14" y="{cy}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {cy})">recall</text>"##,
        cx = (LEFT + W - 20.0) / 2.0,
        ty = H - 12.0,
        cy = (H - BOTTOM) / 2.0
    );
    // The front as a line, in order of false alarms.
    let mut front: Vec<&Point> = tuning.points.iter().filter(|p| p.pareto).collect();
    front.sort_by(|a, b| a.false_alarms_per_10k.total_cmp(&b.false_alarms_per_10k));
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.false_alarms_per_10k), y(p.recall)))
            .collect();
        let _ = write!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>"##,
            path.join(" ")
        );
    }
    for (k, p) in tuning.points.iter().enumerate() {
        let (fill, radius) = if p.chosen {
            ("#d62728", 7.0)
        } else if p.pareto {
            ("#1f77b4", 5.0)
        } else {
            ("#aaa", 4.0)
        };
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{radius}" fill="{fill}"><title>#{k}: {} — recall {:.3}, {:.2} FP/10k, F1 {:.3}</title></circle>"##,
            x(p.false_alarms_per_10k),
            y(p.recall),
            escape(&settings_text(p)),
            p.recall,
            p.false_alarms_per_10k,
            p.f1
        );
    }
    svg.push_str("</svg>");
    let mut rows = String::new();
    for (k, p) in tuning.points.iter().enumerate() {
        let mark = match (p.chosen, p.pareto) {
            (true, _) => "picked",
            (false, true) => "front",
            _ => "",
        };
        let _ = write!(
            rows,
            "<tr class=\"{mark}\"><td>{k}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.2}</td><td>{mark}</td></tr>",
            escape(&settings_text(p)),
            p.recall,
            p.precision,
            p.f1,
            p.false_alarms_per_10k
        );
    }
    let chosen = tuning
        .chosen
        .map(|c| {
            let p = &tuning.points[c];
            format!(
                "Picked by {}: #{c}, {} (recall {:.3}, {:.2} false alarms per 10k).",
                escape(&tuning.objective),
                escape(&settings_text(p)),
                p.recall,
                p.false_alarms_per_10k
            )
        })
        .unwrap_or_else(|| format!("No point meets {}.", escape(&tuning.objective)));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>idrisk tune</title>\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}\
td,th{{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}}td:nth-child(2){{text-align:left}}\
tr.front td{{color:#1f77b4}}tr.picked td{{color:#d62728;font-weight:bold}}</style></head><body>\
<h1>idrisk tune</h1><p>Sweeps: {sweeps} ({mode:?}); types: {types}; {interactive} interactive sign-ins.</p>\
<p>{chosen}</p><figure>{svg}<figcaption>Blue: the Pareto front (no point finds more with fewer false alarms); red: the pick; grey: the rest.</figcaption></figure>\
<table><thead><tr><th>#</th><th>settings</th><th>recall</th><th>precision</th><th>F1</th><th>FP/10k</th><th></th></tr></thead><tbody>{rows}</tbody></table></body></html>\n",
        sweeps = escape(&tuning.sweeps.join(", ")),
        mode = tuning.mode,
        types = escape(&tuning.affected_types.join(", ")),
        interactive = tuning.interactive_sign_ins,
    )
}
