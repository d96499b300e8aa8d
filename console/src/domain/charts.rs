//! Line charts as inline SVG, drawn by `plotters`. Labels are the console's own words and
//! numbers only: nothing from the services reaches the SVG text.
use plotters::prelude::*;

/// Colours of the lines, in series order (readable on white, distinct for common colour
/// blindness).
const PALETTE: [RGBColor; 5] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
];

/// Lines with at most this many points get a marker on each.
const MARKED_POINTS: usize = 40;

/// One line: its legend and its points `(x, y)`.
pub struct Line<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// How the x axis reads.
#[derive(Debug, Clone, Copy)]
pub enum XAxis {
    /// Seconds relative to now (negative: the past), shown as minutes ago.
    MinutesAgo,
    /// Unix seconds, shown as dates (`MM-DD`) or hours (`HH:00`).
    Dates { hourly: bool },
}

/// An SVG line chart `width × height` of `lines`; an empty chart says "no data yet".
pub fn line_chart(
    title: &str,
    lines: &[Line<'_>],
    x_axis: XAxis,
    width: u32,
    height: u32,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let points = lines.iter().flat_map(|l| l.points.iter());
        let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        for &(x, y) in points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if !x0.is_finite() {
            root.titled(title, ("sans-serif", 16))?.draw(&Text::new(
                "no data yet",
                (width as i32 / 2 - 40, height as i32 / 2),
                ("sans-serif", 14),
            ))?;
            root.present()?;
            drop(root);
            return Ok(svg);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let y1 = if y1 > 0.0 { y1 * 1.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(x0..x1, 0.0..y1)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&|x| x_label(*x, x_axis))
            .y_label_formatter(&|y| compact(*y))
            .draw()?;
        for (i, line) in lines.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(line.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
            // Few points: mark each (a single point draws no line).
            if line.points.len() <= MARKED_POINTS {
                chart.draw_series(line.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn x_label(x: f64, axis: XAxis) -> String {
    match axis {
        XAxis::MinutesAgo => {
            let ago = (-x).max(0.0).round() as u64;
            format!("-{}:{:02}", ago / 60, ago % 60)
        }
        XAxis::Dates { hourly } => chrono::DateTime::from_timestamp(x as i64, 0)
            .map(|t| t.format(if hourly { "%H:00" } else { "%m-%d" }).to_string())
            .unwrap_or_default(),
    }
}

/// A number in at most 4 characters or so: 950, 1.2k, 3.4M, 0.25.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_one_path_per_line_and_a_legend() {
        let lines = [
            Line {
                label: "views",
                points: vec![(0.0, 1.0), (60.0, 3.0), (120.0, 2.0)],
            },
            Line {
                label: "purchases",
                points: vec![(0.0, 0.0), (60.0, 1.0)],
            },
        ];
        let svg = line_chart("Product", &lines, XAxis::Dates { hourly: true }, 600, 240).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("views") && svg.contains("purchases"));
        assert!(svg.matches("<polyline").count() >= 2, "{svg}");
    }

    #[test]
    fn an_empty_chart_says_so() {
        let svg = line_chart("Lag", &[], XAxis::MinutesAgo, 300, 150).unwrap();
        assert!(svg.contains("no data yet"));
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(1234.0), "1.2k");
        assert_eq!(compact(3_400_000.0), "3.4M");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(4.0), "4");
        assert_eq!(x_label(-95.0, XAxis::MinutesAgo), "-1:35");
    }
}
