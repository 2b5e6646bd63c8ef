//! `tpch --plot`: the medians as an SVG bar chart, one group of bars per query (one bar per mode
//! and peer, in the table's order and colours in a legend) and a panel of the totals with its own
//! scale. Written by hand: a bar chart is rectangles and labels, and a plotting crate would bring a
//! font stack (its text layout needs one) for no more than that.

use crate::suite::Timings;
use std::fmt::Write as _;
use std::path::Path;

/// Colours of the modes in order (Tableau 10, readable on white and by most colour-blind readers).
const COLOURS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];
const BAR: f64 = 8.0;
const GROUP_GAP: f64 = 10.0;
const LEFT: f64 = 64.0;
const TOP: f64 = 72.0;
const PANEL_HEIGHT: f64 = 300.0;
const BOTTOM: f64 = 36.0;
const TOTALS_BAR: f64 = 22.0;
const TOTALS_GAP: f64 = 90.0;

/// Writes the chart of `results` over `queries` to `path`.
pub(crate) fn write_svg(
    path: &Path,
    title: &str,
    queries: &[usize],
    results: &[(String, Timings)],
) -> Result<(), String> {
    std::fs::write(path, svg(title, queries, results))
        .map_err(|error| format!("{}: {error}", path.display()))
}

/// The chart as SVG text.
fn svg(title: &str, queries: &[usize], results: &[(String, Timings)]) -> String {
    let modes = results.len().max(1) as f64;
    let group = modes * BAR + GROUP_GAP;
    let queries_width = queries.len() as f64 * group;
    let totals_left = LEFT + queries_width + TOTALS_GAP;
    let width = totals_left + modes * TOTALS_BAR + 30.0;
    let height = TOP + PANEL_HEIGHT + BOTTOM;
    let baseline = TOP + PANEL_HEIGHT;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    legend(&mut out, results);

    // Per-query panel.
    let per_query_max = results
        .iter()
        .flat_map(|(_, timings)| timings.median_ms.values())
        .fold(0.0_f64, |max, &ms| max.max(ms));
    let (top_value, step) = scale(per_query_max);
    axis(&mut out, LEFT, queries_width, top_value, step);
    for (index, &query) in queries.iter().enumerate() {
        let x0 = LEFT + index as f64 * group + GROUP_GAP / 2.0;
        let _ = writeln!(out, r#"<g class="query" data-query="q{query}">"#);
        for (position, (name, timings)) in results.iter().enumerate() {
            let x = x0 + position as f64 * BAR;
            match timings.median_ms.get(&query) {
                Some(&ms) => bar(
                    &mut out,
                    x,
                    BAR,
                    ms,
                    top_value,
                    position,
                    &format!("q{query} {name}"),
                ),
                None => {
                    let _ = writeln!(
                        out,
                        r#"<text class="failed" x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">×<title>q{query} {}: failed</title></text>"#,
                        x + BAR / 2.0,
                        baseline - 2.0,
                        escape(name)
                    );
                }
            }
        }
        end_group(&mut out, x0 + modes * BAR / 2.0, &format!("q{query}"));
    }

    // Totals panel: each mode's sum over the queries it ran.
    let totals: Vec<f64> = results
        .iter()
        .map(|(_, timings)| timings.median_ms.values().sum())
        .collect();
    let (top_total, total_step) = scale(totals.iter().fold(0.0_f64, |max, &ms| max.max(ms)));
    axis(
        &mut out,
        totals_left,
        modes * TOTALS_BAR,
        top_total,
        total_step,
    );
    let _ = writeln!(out, r#"<g class="totals">"#);
    for (position, ((name, _), total)) in results.iter().zip(&totals).enumerate() {
        let x = totals_left + position as f64 * TOTALS_BAR + 2.0;
        bar(
            &mut out,
            x,
            TOTALS_BAR - 4.0,
            *total,
            top_total,
            position,
            &format!("total {name}"),
        );
    }
    end_group(&mut out, totals_left + modes * TOTALS_BAR / 2.0, "total");
    out.push_str("</svg>\n");
    out
}

/// Ends a group of bars with its label, centred at `x` under the panel.
fn end_group(out: &mut String, x: f64, label: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        TOP + PANEL_HEIGHT + 16.0,
        escape(label)
    );
    let _ = writeln!(out, "</g>");
}

/// One bar of `ms` against a panel whose top is `top_value`, with a tooltip.
fn bar(out: &mut String, x: f64, width: f64, ms: f64, top_value: f64, mode: usize, label: &str) {
    let height = ms / top_value * PANEL_HEIGHT;
    let _ = writeln!(
        out,
        r#"<rect x="{x:.1}" y="{:.1}" width="{width:.1}" height="{height:.1}" fill="{}"><title>{}: {ms:.1} ms</title></rect>"#,
        TOP + PANEL_HEIGHT - height,
        COLOURS[mode % COLOURS.len()],
        escape(label)
    );
}

/// The colour key, one entry per mode, in a row under the title.
fn legend(out: &mut String, results: &[(String, Timings)]) {
    let _ = writeln!(out, r#"<g class="legend">"#);
    let mut x = LEFT;
    for (position, (name, _)) in results.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="38" width="10" height="10" fill="{}"/><text x="{:.1}" y="47">{}</text>"#,
            COLOURS[position % COLOURS.len()],
            x + 14.0,
            escape(name)
        );
        x += 14.0 + 6.5 * name.chars().count() as f64 + 16.0;
    }
    let _ = writeln!(out, "</g>");
}

/// A vertical axis at `left` with ticks every `step` up to `top_value`, grid lines across `width`.
fn axis(out: &mut String, left: f64, width: f64, top_value: f64, step: f64) {
    let baseline = TOP + PANEL_HEIGHT;
    let _ = writeln!(out, r#"<g class="axis" stroke-width="1">"#);
    let ticks = (top_value / step).round() as usize;
    for tick in 0..=ticks {
        let value = tick as f64 * step;
        let y = baseline - value / top_value * PANEL_HEIGHT;
        let _ = writeln!(
            out,
            r##"<line x1="{left:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + width,
            left - 4.0,
            y + 4.0,
            tick_label(value)
        );
    }
    let _ = writeln!(
        out,
        r##"<line x1="{left:.1}" y1="{TOP:.1}" x2="{left:.1}" y2="{baseline:.1}" stroke="#333"/><line x1="{left:.1}" y1="{baseline:.1}" x2="{:.1}" y2="{baseline:.1}" stroke="#333"/>"##,
        left + width
    );
    let _ = writeln!(out, "</g>");
}

/// The top of an axis that holds `max` and the step between its ticks: a step of 1, 2 or 5 times
/// a power of ten giving about five ticks.
fn scale(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * magnitude)
        .find(|&step| step >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

fn tick_label(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `text` with XML's special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings(medians: &[(usize, f64)]) -> Timings {
        Timings {
            median_ms: medians.iter().copied().collect(),
            ..Timings::default()
        }
    }

    #[test]
    fn the_chart_is_svg_with_a_bar_group_per_query_and_a_bar_per_mode() {
        let results = vec![
            ("in-process".to_string(), timings(&[(1, 120.0), (6, 30.0)])),
            ("shm-2".to_string(), timings(&[(1, 140.0), (6, 25.5)])),
            ("a<b&c".to_string(), timings(&[(1, 90.0)])),
        ];
        let text = svg("TPC-H sf 0.1 <test>", &[1, 6], &results);
        let document = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let groups: Vec<_> = root
            .descendants()
            .filter(|node| node.attribute("class") == Some("query"))
            .collect();
        let names: Vec<_> = groups.iter().map(|g| g.attribute("data-query")).collect();
        assert_eq!(names, [Some("q1"), Some("q6")]);
        let bars =
            |group: &roxmltree::Node| group.children().filter(|n| n.has_tag_name("rect")).count();
        assert_eq!(bars(&groups[0]), 3);
        // The third mode did not run q6: no bar, a mark saying so.
        assert_eq!(bars(&groups[1]), 2);
        assert!(
            groups[1]
                .descendants()
                .any(|n| n.attribute("class") == Some("failed"))
        );
        let totals = root
            .descendants()
            .find(|node| node.attribute("class") == Some("totals"))
            .expect("a totals panel");
        assert_eq!(bars(&totals), 3);
        // Bar heights follow the values: shm-2's q1 bar is taller than in-process's.
        let height = |group: &roxmltree::Node, index: usize| -> f64 {
            let bar = group
                .children()
                .filter(|n| n.has_tag_name("rect"))
                .nth(index)
                .unwrap();
            bar.attribute("height").unwrap().parse().unwrap()
        };
        assert!(height(&groups[0], 1) > height(&groups[0], 0));
        assert!(height(&groups[0], 0) > height(&groups[0], 2));
        // The escaped title and mode name read back as written.
        assert!(
            root.descendants()
                .any(|n| n.text() == Some("TPC-H sf 0.1 <test>"))
        );
        assert!(root.descendants().any(|n| n.text() == Some("a<b&c")));
    }

    #[test]
    fn axes_end_on_a_round_number_above_the_largest_value() {
        assert_eq!(scale(950.0), (1000.0, 200.0));
        assert_eq!(scale(1234.0), (1500.0, 500.0));
        assert_eq!(scale(3.2), (4.0, 1.0));
        assert_eq!(scale(0.0), (1.0, 0.2));
        assert_eq!(tick_label(200.0), "200");
        assert_eq!(tick_label(0.25), "0.25");
    }
}
