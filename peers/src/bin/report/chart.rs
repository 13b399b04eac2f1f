//! docs/peers.svg: per workload, each peer's time (bytes for M1) over the
//! engine's, bars on a log scale. Plotters' SVG backend writes text as SVG
//! `<text>` and sizes it with its built-in estimate, so no font is needed.

use std::path::Path;

use plotters::prelude::*;

use crate::figures::ratio;
use crate::lines::{LINES, PEERS};
use crate::results::Results;

/// One colour per peer, in `PEERS` order; the engine stands out.
const COLOURS: [RGBColor; 7] = [
    RGBColor(150, 150, 150),
    RGBColor(90, 90, 90),
    RGBColor(230, 159, 0),
    RGBColor(160, 100, 40),
    RGBColor(170, 110, 200),
    RGBColor(86, 150, 220),
    RGBColor(200, 30, 45),
];

/// peer ÷ engine on every line where both ran: `(line, peer, value)`.
fn bars(results: &Results) -> Vec<(usize, usize, f64)> {
    let mut bars = Vec::new();
    for (li, line) in LINES.iter().enumerate() {
        for (pi, peer) in PEERS.iter().enumerate() {
            if let Some(r) = ratio(results, line, peer) {
                bars.push((li, pi, 1.0 / r));
            }
        }
    }
    bars
}

/// Powers of ten around every value, so bars start below the smallest.
fn bounds(bars: &[(usize, usize, f64)]) -> (f64, f64) {
    let (lo, hi) = bars.iter().fold((1.0f64, 1.0f64), |(lo, hi), &(_, _, v)| {
        (lo.min(v), hi.max(v))
    });
    (
        10f64.powf((lo / 2.0).log10().floor()),
        // Headroom above the tallest bar for the legend.
        10f64.powf((hi * 30.0).log10().ceil()),
    )
}

fn x_label(x: &f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < LINES.len() {
        LINES[i as usize].label.to_owned()
    } else {
        String::new()
    }
}

/// Draws the chart to `path`.
pub(crate) fn draw(results: &Results, path: &Path) -> Result<(), String> {
    let bars = bars(results);
    let (lo, hi) = bounds(&bars);
    let n = LINES.len() as f64;
    let root = SVGBackend::new(path, (1280, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "peer ÷ engine, per workload: time per element (M1: bytes per observer); above 1 the engine is ahead",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n - 0.5, (lo..hi).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(LINES.len())
        .x_label_formatter(&x_label)
        .y_desc("peer ÷ engine (log)")
        .y_label_formatter(&|y| format!("{y}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    let width = 0.84 / PEERS.len() as f64;
    for (pi, peer) in PEERS.iter().enumerate() {
        let colour = COLOURS[pi];
        let rects = bars.iter().filter(|b| b.1 == pi).map(|&(li, _, v)| {
            let x = li as f64 - 0.42 + pi as f64 * width;
            Rectangle::new([(x, lo), (x + width * 0.9, v)], colour.filled())
        });
        chart
            .draw_series(rects)
            .map_err(|e| e.to_string())?
            .label(*peer)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()));
    }
    chart
        .draw_series(LineSeries::new(
            [(-0.5, 1.0), (n - 0.5, 1.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
