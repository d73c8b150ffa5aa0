//! `--plot`: the per-frame measures of every run as a PNG chart, one panel per measure (warping
//! error, colourfulness and, with a truth, CIEDE2000), one coloured curve per run.
//!
//! Text is drawn with a TrueType font read at run time (plotters' `ab_glyph` feature): plotters'
//! default font support links fontconfig, which the rest of the tool does not need.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use plotters::prelude::*;

use super::Report;

/// Width of the chart, in pixels.
pub const WIDTH: u32 = 1200;
/// Height of one panel, in pixels: the chart is this times the number of panels.
pub const PANEL_HEIGHT: u32 = 400;

/// Where the font is looked for when `$DDCOLOR_FONT` does not name one: DejaVu Sans where Debian
/// (`fonts-dejavu-core`), Fedora and Arch put it.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
const FONT: &str = "sans-serif";

/// Curve colours (Tableau 10): distinct, and readable on white.
const COLOURS: &[RGBColor] = &[
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Finds and registers the font once; fails with what to install when there is none.
pub fn load_font() -> Result<()> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = match std::env::var_os("DDCOLOR_FONT") {
                Some(p) => {
                    let p = PathBuf::from(p);
                    if !p.is_file() {
                        return Err(format!("DDCOLOR_FONT={}: no such font file", p.display()));
                    }
                    p
                }
                None => match FONT_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()) {
                    Some(p) => p,
                    None => {
                        return Err(format!(
                            "--plot needs the DejaVu Sans font and it is not installed (looked for \
                             {}); install the package fonts-dejavu-core, or set DDCOLOR_FONT to a \
                             .ttf file",
                            FONT_PATHS[0]
                        ));
                    }
                },
            };
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("{}: cannot read the font: {e}", path.display()))?;
            // plotters keeps fonts for the whole run: the bytes live as long as the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FONT, FontStyle::Normal, bytes)
                .map_err(|_| format!("{}: not a usable TrueType font", path.display()))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// One panel: a measure against the frame number.
struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    /// (label, points) per curve.
    curves: Vec<(String, Vec<(f64, f64)>)>,
    /// A black reference curve (the truth's colourfulness), if any.
    reference: Option<(String, Vec<(f64, f64)>)>,
}

/// The chart as PNG bytes: `WIDTH` x `PANEL_HEIGHT` per panel.
pub fn render(report: &Report, truth_colourfulness: &[f64]) -> Result<Vec<u8>> {
    load_font()?;
    let series =
        |pick: fn(&super::FrameMeasures) -> Option<f64>| -> Vec<(String, Vec<(f64, f64)>)> {
            report
                .runs
                .iter()
                .map(|r| {
                    let points = r
                        .frames
                        .iter()
                        .filter_map(|f| pick(f).map(|v| (f.index as f64, v)))
                        .collect();
                    (r.label.clone(), points)
                })
                .collect()
        };
    let mut panels = vec![
        Panel {
            title: "Warping error (lower is steadier)",
            y_desc: "E_warp, frame t-1 to t",
            curves: series(|f| f.warp_error),
            reference: None,
        },
        Panel {
            title: "Colourfulness (should stay near the truth; 0 is grey)",
            y_desc: "colourfulness",
            curves: series(|f| Some(f.colourfulness)),
            reference: (!truth_colourfulness.is_empty()).then(|| {
                (
                    "truth".to_string(),
                    truth_colourfulness
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| (i as f64, v))
                        .collect(),
                )
            }),
        },
    ];
    if report.truth.is_some() {
        panels.push(Panel {
            title: "CIEDE2000 from the truth (lower is better)",
            y_desc: "ΔE00, mean per pixel",
            curves: series(|f| f.ciede2000),
            reference: None,
        });
    }
    let frames = report
        .runs
        .iter()
        .map(|r| r.frames.len())
        .max()
        .unwrap_or(0);
    let height = PANEL_HEIGHT * panels.len() as u32;
    let mut rgb = vec![0u8; WIDTH as usize * height as usize * 3];
    draw(&mut rgb, height, &panels, frames).map_err(|e| anyhow!("cannot draw the plot: {e}"))?;
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&rgb, WIDTH, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| anyhow!("cannot encode the plot: {e}"))?;
    Ok(png)
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Width of the legend column at the right of each panel, in pixels.
const LEGEND_WIDTH: u32 = 200;

fn draw(rgb: &mut [u8], height: u32, panels: &[Panel], frames: usize) -> DrawResult {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels.len(), 1));
    let x_max = (frames.saturating_sub(1)).max(1) as f64;
    for (area, panel) in areas.iter().zip(panels) {
        let y_max = panel
            .curves
            .iter()
            .chain(panel.reference.iter())
            .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0f64, f64::max);
        let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };
        let area = area.margin(8, 0, 0, 0).titled(panel.title, (FONT, 22))?;
        let (plot_area, legend_area) = area.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        let y_format = number_format(y_max);
        chart
            .configure_mesh()
            .x_desc("frame")
            .y_desc(panel.y_desc)
            .x_label_formatter(&|v| whole(*v))
            .y_label_formatter(&|v| y_format(*v))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let mut legend = Vec::new();
        for (i, (label, points)) in panel.curves.iter().enumerate() {
            let style = COLOURS[i % COLOURS.len()].stroke_width(2);
            chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
            legend.push((label.as_str(), style));
        }
        if let Some((label, points)) = &panel.reference {
            let style = BLACK.stroke_width(1);
            chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
            legend.push((label.as_str(), style));
        }
        draw_legend(&legend_area, &legend)?;
    }
    root.present()?;
    Ok(())
}

/// The legend in its own column, so it never hides a curve: a line of each colour, its name.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(&str, ShapeStyle)],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    const ROW: i32 = 22;
    for (i, (label, style)) in entries.iter().enumerate() {
        let y = 24 + i as i32 * ROW;
        area.draw(&PathElement::new([(8, y), (36, y)], *style))?;
        let mut text: String = label.chars().take(20).collect();
        if label.chars().count() > 20 {
            text.push('…');
        }
        area.draw(&Text::new(
            text,
            (44, y - 8),
            (FONT, 15).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}

/// Frame numbers: whole numbers only (no "2.5" between frames of a short clip).
fn whole(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// Axis numbers with as many decimals as the range needs (warping errors are around 1e-3).
fn number_format(max: f64) -> impl Fn(f64) -> String {
    let step = max / 10.0;
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    move |v| {
        if v == 0.0 {
            "0".into()
        } else if decimals > 5 {
            format!("{v:.1e}")
        } else {
            format!("{v:.decimals$}")
        }
    }
}
