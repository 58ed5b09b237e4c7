//! `pelt`: train, evaluate and export HyperPELT runs. `cargo xtask train` runs
//! `pelt train --config configs/default.json --out runs/default`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use pelt_train::{Backbone, Evaluator, RunConfig, final_report, load_trained, predict, train};

const HELP: &str = "\
pelt: train, evaluate and export HyperPELT runs

USAGE:
  pelt train  [--config FILE] [--out DIR] [--resume] [--method M] [--t5 PATH] [--clip PATH]
              [--data DIR] [--set KEY=VALUE]...
      Trains the configuration (default configs/default.json: HyperPELT on the bundled data,
      small random T5 and CLIP) in DIR (default runs/default): log.jsonl, checkpoints/,
      best.safetensors, report.json, report.md. --resume continues from the last checkpoint.
      --method: hyperpelt | hyperformer | hyperprefix | adapters | prefix | full.
      --set overrides any field, e.g. --set train.steps=50 --set pelt.prefix_len=4.
  pelt eval   --run DIR
      Evaluates the run's best model on every task's validation and test sets; rewrites the
      report.
  pelt predict --run DIR --task NAME --text TEXT [--image FILE]
      Prints the best model's answer to one input of task NAME (the source text as the task
      formats it, e.g. \"question: what color is the shape?\"), with an image for image tasks.
  pelt export --run DIR --task NAME [--out FILE]
      Writes the task's generated adapters and prefixes as a static safetensors set (default
      DIR/export-NAME.safetensors) that plain T5 runs without the hypernetwork.
  pelt help
";

/// `--name value` options and `--flag`s, in order.
struct Args(Vec<String>);

impl Args {
    fn value(&mut self, name: &str) -> Result<Option<String>> {
        match self.0.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => {
                if i + 1 >= self.0.len() {
                    bail!("option {name} needs a value (see `pelt help`)");
                }
                let value = self.0.remove(i + 1);
                self.0.remove(i);
                Ok(Some(value))
            }
        }
    }

    fn flag(&mut self, name: &str) -> bool {
        let found = self.0.iter().position(|a| a == name);
        if let Some(i) = found {
            self.0.remove(i);
        }
        found.is_some()
    }

    fn finish(self) -> Result<()> {
        if let Some(extra) = self.0.first() {
            bail!("unknown argument `{extra}` (see `pelt help`)");
        }
        Ok(())
    }
}

fn run_config(args: &mut Args) -> Result<RunConfig> {
    let file = args
        .value("--config")?
        .unwrap_or_else(|| "configs/default.json".to_string());
    let mut config = RunConfig::from_file(&file)?;
    if let Some(method) = args.value("--method")? {
        config.pelt.method = method.parse()?;
    }
    if let Some(t5) = args.value("--t5")? {
        config.t5 = Backbone::Path(PathBuf::from(t5));
    }
    if let Some(clip) = args.value("--clip")? {
        config.clip = Some(Backbone::Path(PathBuf::from(clip)));
    }
    if let Some(data) = args.value("--data")? {
        config.data = PathBuf::from(data);
    }
    while let Some(assignment) = args.value("--set")? {
        config.set(&assignment)?;
    }
    config.validate()?;
    Ok(config)
}

fn main() -> Result<()> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        print!("{HELP}");
        return Ok(());
    }
    let command = argv.remove(0);
    let mut args = Args(argv);
    match command.as_str() {
        "train" => {
            let out = PathBuf::from(
                args.value("--out")?
                    .unwrap_or_else(|| "runs/default".to_string()),
            );
            let resume = args.flag("--resume");
            let config = run_config(&mut args)?;
            args.finish()?;
            let report = train(&config, &out, resume)?;
            println!("{}", report.markdown());
            println!("run directory: {}", out.display());
        }
        "eval" => {
            let run = PathBuf::from(args.value("--run")?.context("eval needs --run DIR")?);
            args.finish()?;
            let device = Device::default();
            let (config, data, model) = load_trained(&run, &device)?;
            let evaluator = Evaluator {
                batcher: &data.batcher,
                tokenizer: &data.tokenizer,
                train: &config.train,
                device: device.clone(),
            };
            let state = pelt_train::checkpoint::list(&run)?
                .pop()
                .map(|dir| -> Result<_> {
                    let text = std::fs::read_to_string(dir.join("state.json"))?;
                    Ok(serde_json::from_str(&text)?)
                })
                .transpose()?
                .context("the run has no checkpoint")?;
            let report = final_report(&config, &run, &model, &data, &evaluator, &state)?;
            println!("{}", report.markdown());
        }
        "predict" => {
            let run = PathBuf::from(args.value("--run")?.context("predict needs --run DIR")?);
            let task = args.value("--task")?.context("predict needs --task NAME")?;
            let text = args.value("--text")?.context("predict needs --text TEXT")?;
            let image = args.value("--image")?.map(PathBuf::from);
            args.finish()?;
            println!("{}", predict(&run, &task, &text, image.as_deref())?);
        }
        "export" => {
            let run = PathBuf::from(args.value("--run")?.context("export needs --run DIR")?);
            let task = args.value("--task")?.context("export needs --task NAME")?;
            let out = args
                .value("--out")?
                .map(PathBuf::from)
                .unwrap_or_else(|| run.join(format!("export-{task}.safetensors")));
            args.finish()?;
            let (_, _, model) = load_trained(&run, &Device::default())?;
            model.export_task(&task, &out)?;
            println!("wrote {}", out.display());
        }
        "help" | "--help" | "-h" => print!("{HELP}"),
        other => bail!("unknown command `{other}` (see `pelt help`)"),
    }
    Ok(())
}
