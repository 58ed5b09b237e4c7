//! PNG plots of a run, drawn from its `log.jsonl`: `loss.png` (training loss per logged step:
//! one line per task and their mean when the log has per-task losses, else one line) and
//! `validation.png` (every task's validation metrics and the selection score per evaluation).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::{TrainError, io};
use crate::run::run_dir::RunDir;

const SIZE: (u32, u32) = (900, 520);
/// The loss plot's line of the mean of the tasks' losses at each logged step.
const MEAN_OVER_TASKS: &str = "mean over tasks";
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

/// A named line of (step, value) points.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

/// Reads the loss and validation series from the lines of a run log.
fn series(log: &str, file: &Path) -> Result<(Vec<Series>, Vec<Series>), TrainError> {
    let mut loss = Vec::new();
    let mut task_loss: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut validation: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (number, line) in log.lines().enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|source| TrainError::Log {
                file: file.to_path_buf(),
                line: number + 1,
                source,
            })?;
        let Some(step) = value["step"].as_f64() else {
            continue;
        };
        if let Some(l) = value["loss"].as_f64() {
            loss.push((step, l));
        }
        if let Some(tasks) = value["task_loss"].as_object() {
            let losses: Vec<(&String, f64)> = tasks
                .iter()
                .filter_map(|(task, l)| Some((task, l.as_f64()?)))
                .collect();
            for &(task, l) in &losses {
                task_loss.entry(task.clone()).or_default().push((step, l));
            }
            if !losses.is_empty() {
                let mean = losses.iter().map(|(_, l)| l).sum::<f64>() / losses.len() as f64;
                task_loss
                    .entry(MEAN_OVER_TASKS.to_string())
                    .or_default()
                    .push((step, mean));
            }
        }
        if let Some(tasks) = value["validation"].as_object() {
            for (task, metrics) in tasks {
                for m in metrics.as_array().into_iter().flatten() {
                    if let (Some(name), Some(v)) = (m["metric"].as_str(), m["value"].as_f64()) {
                        let key = format!("{task} {name}");
                        validation.entry(key).or_default().push((step, v));
                    }
                }
            }
            // The score model selection maximises; logs of earlier versions have the average.
            let selected = match value["score"].as_f64() {
                Some(score) => Some(("selection score", score)),
                None => value["average"].as_f64().map(|avg| ("average", avg)),
            };
            if let Some((name, score)) = selected {
                validation
                    .entry(name.to_string())
                    .or_default()
                    .push((step, score));
            }
        }
    }
    // Batches of one task each make the single loss line zig-zag by task: draw them apart.
    let loss = if task_loss.is_empty() {
        vec![Series {
            name: "training loss".into(),
            points: loss,
        }]
    } else {
        task_loss
            .into_iter()
            .map(|(name, points)| Series { name, points })
            .collect()
    };
    let validation = validation
        .into_iter()
        .map(|(name, points)| Series { name, points })
        .collect();
    Ok((loss, validation))
}

/// The smallest range holding every point, widened when flat.
fn bounds(lines: &[Series], pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let values = lines.iter().flat_map(|s| s.points.iter().map(&pick));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

/// Draws `lines` into an RGB buffer of [`SIZE`].
fn draw(title: &str, y_label: &str, lines: &[Series]) -> Result<Vec<u8>, String> {
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (x0, x1) = bounds(lines, |p| p.0);
        let (y0, y1) = bounds(lines, |p| p.1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(y_label)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, line) in lines.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(line.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buffer)
}

/// Title and y label of the validation plot: a pretraining run validates by a loss, a training
/// run by metrics ×100.
fn validation_labels(validation: &[Series]) -> (&'static str, &'static str) {
    if !validation.is_empty() && validation.iter().all(|s| s.name.ends_with("loss")) {
        ("validation loss", "loss")
    } else {
        ("validation metrics (x100)", "score")
    }
}

/// Writes `loss.png` and `validation.png` into `run` from its `log.jsonl` (atomically, like
/// every other file of a run).
pub fn write_plots(run: &Path) -> Result<(), TrainError> {
    let run = RunDir::new(run);
    let log_file = run.log();
    let log = std::fs::read_to_string(&log_file).map_err(io(&log_file))?;
    let (loss, validation) = series(&log, &log_file)?;
    // The font is compiled in, so registering it can only fail if the file was corrupted.
    register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| TrainError::Plot {
        what: "the bundled plot font".into(),
        reason: "not a valid font".into(),
    })?;
    let (title, y_label) = validation_labels(&validation);
    for (name, title, y_label, lines) in [
        ("loss.png", "training loss", "loss", &loss),
        ("validation.png", title, y_label, &validation),
    ] {
        let file = run.output(name);
        let failed = |reason: String| TrainError::Plot {
            what: file.display().to_string(),
            reason,
        };
        let rgb = draw(title, y_label, lines).map_err(|e| failed(format!("cannot draw: {e}")))?;
        let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, rgb)
            .ok_or_else(|| failed("bad buffer".into()))?;
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| failed(e.to_string()))?;
        pelt_weights::write_atomically(&file, &png)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_from_a_log_and_a_bad_line() {
        let log = concat!(
            r#"{"step": 1, "loss": 2.5, "lr": 0.1, "grad_norm": 1.0}"#,
            "\n",
            r#"{"step": 2, "validation": {"rte": [{"metric": "accuracy", "value": 55.0}]}, "average": 55.0}"#,
            "\n",
            r#"{"step": 3, "validation": {"rte": [{"metric": "accuracy", "value": 57.0}]}, "average": 57.0, "score": 57.0}"#,
            "\n",
        );
        let (loss, validation) = series(log, Path::new("log.jsonl")).unwrap();
        assert_eq!(loss[0].points, vec![(1.0, 2.5)]);
        let names: Vec<&str> = validation.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["average", "rte accuracy", "selection score"]);
        assert_eq!(validation[1].points, vec![(2.0, 55.0), (3.0, 57.0)]);
        assert_eq!(validation[2].points, vec![(3.0, 57.0)]);
        let per_task = concat!(
            r#"{"step": 10, "loss": 2.0, "task_loss": {"rte": 2.0, "cola": 4.0}}"#,
            "\n",
            r#"{"step": 20, "loss": 1.0, "task_loss": {"rte": 1.0}}"#,
        );
        let (loss, _) = series(per_task, Path::new("log.jsonl")).unwrap();
        let lines: Vec<(&str, &[(f64, f64)])> = loss
            .iter()
            .map(|s| (s.name.as_str(), s.points.as_slice()))
            .collect();
        assert_eq!(
            lines,
            [
                ("cola", &[(10.0, 4.0)][..]),
                (MEAN_OVER_TASKS, &[(10.0, 3.0), (20.0, 1.0)][..]),
                ("rte", &[(10.0, 2.0), (20.0, 1.0)][..]),
            ]
        );
        let err = series("{oops", Path::new("run/log.jsonl"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("run/log.jsonl line 1"), "{err}");
    }

    #[test]
    fn a_loss_is_labelled_as_a_loss_and_metrics_as_scores() {
        let series = |name: &str| Series {
            name: name.into(),
            points: vec![(1.0, 5.0)],
        };
        let loss = [series("span-corruption held-out loss")];
        assert_eq!(validation_labels(&loss), ("validation loss", "loss"));
        let metrics = [series("pd-source accuracy"), series("average")];
        assert_eq!(validation_labels(&metrics).1, "score");
        assert_eq!(validation_labels(&[]).1, "score");
    }

    #[test]
    fn draws_png_files() {
        let run = std::env::temp_dir().join(format!("pelt-plot-{}", std::process::id()));
        std::fs::create_dir_all(&run).unwrap();
        let log = (1..=20)
            .map(|s| format!(r#"{{"step": {s}, "loss": {}}}"#, 10.0 / s as f64))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(run.join("log.jsonl"), log).unwrap();
        write_plots(&run).unwrap();
        for name in ["loss.png", "validation.png"] {
            let img = image::open(run.join(name)).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), SIZE);
            // Something besides the white background was drawn.
            assert!(
                img.pixels().any(|p| p.0 != [255, 255, 255]),
                "{name} is blank"
            );
        }
        std::fs::remove_dir_all(&run).unwrap();
    }
}
