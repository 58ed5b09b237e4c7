//! `pelt`: train, evaluate and export HyperPELT runs. `cargo xtask train` runs
//! `pelt train --config configs/default.json --out runs/default`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use pelt_train::{
    Backbone, Evaluator, RunConfig, StopHandle, TaskSource, TrainError, backend, final_report,
    load_trained, predict, pretrain, train,
};

const HELP: &str = "\
pelt: train, evaluate and export HyperPELT runs

USAGE: pelt COMMAND [OPTIONS]   (pelt COMMAND --help for one command)

COMMANDS:
  train    train a configuration into a run directory (or resume one)
  pretrain pretrain a T5 by span corruption (a configuration with `pretrain`)
  eval     evaluate a run's best model on validation and test
  predict  print the best model's answer to one input
  export   write a task's generated adapters and prefixes as a static set
  help     this text
";

const TRAIN_HELP: &str = "\
pelt train: trains a configuration into a run directory

USAGE:
  pelt train [--config FILE] [--out DIR] [--resume] [--backend B] [--method M]
             [--t5 PATH_OR_ID] [--clip PATH_OR_ID] [--data DIR] [--tasks LIST]
             [--init-from RUN] [--shots K] [--tune all|task-embedding] [--set KEY=VALUE]...

  --config FILE     run configuration, JSON or TOML (a `.toml` name) (default
                    configs/default.json: HyperPELT on the bundled data; with --init-from,
                    default RUN/config.json)
  --out DIR         run directory (default runs/default): config.json, log.jsonl,
                    checkpoints/, best.safetensors, report.json, report.md, loss.png,
                    validation.png
  --resume          continue from the run directory's last checkpoint
  --backend B       auto (default: the build's default device) | flex | wgpu | vulkan | cuda
  --method M        hyperpelt | hyperformer | hyperprefix | adapters | prefix | full
  --t5, --clip      a model directory or a Hugging Face id (`t5-base`, `google/flan-t5-base`,
                    `openai/clip-vit-base-patch32`), looked up in the local hub cache
                    (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub) and downloaded
                    there when missing and a network is available
  --data DIR        root of the task directories
  --tasks LIST      the task mixture, comma-separated NAME or NAME=DIR (DIR under --data;
                    default DIR is NAME)
  --init-from RUN   few-shot transfer: start from RUN's best model (all trainable parts but
                    the task embedding); the new tasks get fresh task embeddings
  --shots K         keep K training examples per class of each task (default 0: all)
  --tune T          all (default) | task-embedding (only the new task embeddings train)
  --set KEY=VALUE   override any field, e.g. --set train.steps=50 --set pelt.prefix_len=4
";

const PRETRAIN_HELP: &str = "\
pelt pretrain: T5 span-corruption pretraining of a whole backbone, in the loop of `pelt train`
(checkpoints, --resume, log.jsonl, loss.png); writes the model with the best held-out loss to
RUN/model/ (Hugging Face layout with the tokenizer files) and RUN/pretrain.json

USAGE:
  pelt pretrain [--config FILE] [--out DIR] [--resume] [--backend B] [--set KEY=VALUE]...

  --config FILE   a configuration with a `pretrain` section (default
                  configs/pretrain-t5-mini.json; corpus from datasets/build/build_pretrain_corpus.py)
  --out DIR       run directory (default runs/pretrain)
";

const EVAL_HELP: &str = "\
pelt eval: evaluates a run's best model on every task's validation and test sets beside the
majority baseline; rewrites report.json and report.md

USAGE:
  pelt eval --run DIR [--backend B]
";

const PREDICT_HELP: &str = "\
pelt predict: prints the best model's answer (greedy) to one input

USAGE:
  pelt predict --run DIR --task NAME --text TEXT [--image FILE] [--backend B]

  --text    the source as the task formats it, e.g. \"question: what color is the shape?\"
  --image   the image, for image tasks
";

const EXPORT_HELP: &str = "\
pelt export: writes task NAME's generated adapters and prefixes as a static safetensors set
that plain T5 runs without the hypernetwork (text models of hypernetwork and plain methods)

USAGE:
  pelt export --run DIR --task NAME [--out FILE] [--backend B]

  --out FILE   default DIR/export-NAME.safetensors
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

/// `NAME` or `NAME=DIR`, comma-separated.
fn task_list(list: &str) -> Result<Vec<TaskSource>> {
    list.split(',')
        .map(|item| {
            let (name, dir) = item.split_once('=').unwrap_or((item, item));
            if name.is_empty() || dir.is_empty() {
                bail!("--tasks: `{item}` is not NAME or NAME=DIR");
            }
            Ok(TaskSource {
                name: name.to_string(),
                dir: PathBuf::from(dir),
            })
        })
        .collect()
}

fn run_config(args: &mut Args) -> Result<RunConfig> {
    let init_from = args.value("--init-from")?.map(PathBuf::from);
    let file = match (args.value("--config")?, &init_from) {
        (Some(file), _) => PathBuf::from(file),
        (None, Some(run)) => run.join("config.json"),
        (None, None) => PathBuf::from("configs/default.json"),
    };
    let mut config = RunConfig::from_file(&file)?;
    if let Some(run) = init_from {
        if !run.join("best.safetensors").is_file() {
            bail!(
                "--init-from {}: no best.safetensors (not a trained run)",
                run.display()
            );
        }
        config.init_from = Some(run);
    }
    if let Some(list) = args.value("--tasks")? {
        config.tasks = task_list(&list)?;
        config.sync_tasks();
    }
    if let Some(shots) = args.value("--shots")? {
        config.train.shots = shots
            .parse()
            .with_context(|| format!("--shots `{shots}`: not a count"))?;
    }
    if let Some(tune) = args.value("--tune")? {
        config.pelt.tune = serde_json::from_value(serde_json::Value::String(tune.clone()))
            .map_err(|_| anyhow::anyhow!("--tune `{tune}`: expected all or task-embedding"))?;
    }
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

/// Runs a training loop with Ctrl-C / SIGTERM handled: the loop finishes its step and writes a
/// checkpoint, and the process exits with status 130 (`--resume` continues it).
fn interruptible<T>(run: impl FnOnce(&StopHandle) -> Result<T, TrainError>) -> Result<T> {
    let stop = StopHandle::new();
    let handler = stop.clone();
    ctrlc::set_handler(move || handler.stop()).context("cannot install a signal handler")?;
    match run(&stop) {
        Err(stop @ TrainError::Interrupted { .. }) => {
            eprintln!("{stop}");
            std::process::exit(130);
        }
        other => Ok(other?),
    }
}

fn main() -> Result<()> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        print!("{HELP}");
        return Ok(());
    }
    let command = argv.remove(0);
    let mut args = Args(argv);
    let help = match command.as_str() {
        "train" => TRAIN_HELP,
        "pretrain" => PRETRAIN_HELP,
        "eval" => EVAL_HELP,
        "predict" => PREDICT_HELP,
        "export" => EXPORT_HELP,
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            return Ok(());
        }
        other => bail!("unknown command `{other}` (see `pelt help`)"),
    };
    if args.flag("--help") || args.flag("-h") {
        print!("{help}");
        return Ok(());
    }
    let device = backend::device(&args.value("--backend")?.unwrap_or_else(|| "auto".into()))?;
    match command.as_str() {
        "train" => {
            let out = PathBuf::from(
                args.value("--out")?
                    .unwrap_or_else(|| "runs/default".to_string()),
            );
            let resume = args.flag("--resume");
            let config = run_config(&mut args)?;
            args.finish()?;
            let report = interruptible(|stop| train(&config, &out, resume, &device, stop))?;
            println!("{}", report.markdown());
            println!("run directory: {}", out.display());
        }
        "pretrain" => {
            let out = PathBuf::from(
                args.value("--out")?
                    .unwrap_or_else(|| "runs/pretrain".to_string()),
            );
            let resume = args.flag("--resume");
            let file = args
                .value("--config")?
                .unwrap_or_else(|| "configs/pretrain-t5-mini.json".to_string());
            let mut config = RunConfig::from_file(&file)?;
            while let Some(assignment) = args.value("--set")? {
                config.set(&assignment)?;
            }
            args.finish()?;
            let report = interruptible(|stop| pretrain(&config, &out, resume, &device, stop))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        "eval" => {
            let run = PathBuf::from(args.value("--run")?.context("eval needs --run DIR")?);
            args.finish()?;
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
            println!(
                "{}",
                predict(&run, &task, &text, image.as_deref(), &device)?
            );
        }
        _ => {
            let run = PathBuf::from(args.value("--run")?.context("export needs --run DIR")?);
            let task = args.value("--task")?.context("export needs --task NAME")?;
            let out = args
                .value("--out")?
                .map(PathBuf::from)
                .unwrap_or_else(|| run.join(format!("export-{task}.safetensors")));
            args.finish()?;
            let (_, _, model) = load_trained(&run, &device)?;
            model.export_task(&task, &out)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}
