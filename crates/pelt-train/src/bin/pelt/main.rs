//! `pelt`: train, evaluate and export HyperPELT runs. `cargo xtask train` runs
//! `pelt train --config configs/default.json --out runs/default`.

mod terminal;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pelt_data::{Example, TaskData};
use pelt_hyper::{Method, Tune};
use pelt_train::{
    Backbone, DeviceSpec, Evaluator, RunConfig, RunDir, StopHandle, TaskSource, TrainError,
    backend, final_report, load_data, load_trained, predict, pretrain, pretrain_start, probe,
    probe_markdown, split_markdown, train, trajectory_changes,
};

/// pelt: train, evaluate and export HyperPELT runs
#[derive(Parser)]
#[command(name = "pelt", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The compute device, shared by every command.
#[derive(Args)]
struct BackendArg {
    /// auto (the build's default device) | flex (cpu) | wgpu | vulkan | cuda, or KIND:N for
    /// the N-th GPU (cuda:1)
    #[arg(long, value_name = "B", default_value = "auto")]
    backend: String,
}

/// The devices of a training command: one, or data-parallel workers.
#[derive(Args)]
struct DevicesArg {
    #[command(flatten)]
    backend: BackendArg,
    /// Data-parallel workers, comma-separated: cpu,cpu | cuda:0,cuda:1 | wgpu:0,wgpu:1 (sets
    /// train.devices; the first one holds the model, the optimiser and evaluation)
    #[arg(long, value_name = "LIST", conflicts_with = "backend")]
    devices: Option<String>,
}

impl DevicesArg {
    /// The main device ([`TrainConfig::main_device`](pelt_train::TrainConfig::main_device)),
    /// with `config.train.devices` set from `--devices`: the list's first entry when there is
    /// a list (from `--devices` or the configuration), else `--backend`'s device. A list and
    /// an explicit `--backend` together are refused.
    fn resolve(&self, config: &mut RunConfig) -> Result<burn::prelude::Device> {
        if let Some(list) = &self.devices {
            config.train.devices = backend::device_list(list)?;
        }
        let chosen: DeviceSpec = self.backend.backend.parse()?;
        if chosen != DeviceSpec::AUTO && !config.train.devices.is_empty() {
            bail!(
                "--backend {} and train.devices `{}` both choose devices: use one of them",
                self.backend.backend,
                backend::device_list_text(&config.train.devices)
            );
        }
        Ok(config.train.main_device(chosen).device()?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train a configuration into a run directory (or resume one)
    Train(TrainArgs),
    /// T5 span-corruption pretraining of a whole backbone, in the loop of `pelt train`;
    /// writes the model with the best held-out loss to OUT/model/ (Hugging Face layout with
    /// the tokenizer files) and OUT/pretrain.json
    Pretrain(PretrainArgs),
    /// Evaluate a run's best model on every task's validation and test sets beside the
    /// majority baseline; rewrites report.json and report.md (with --split validation|test,
    /// prints that split's scores and writes nothing)
    Eval {
        /// The run directory
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        /// Which split to score
        #[arg(long, value_name = "S", value_enum, default_value_t = Split::All)]
        split: Split,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Linear probes of the frozen backbone on every text task of a configuration: a logistic
    /// regression on the mean-pooled encoder output and on the mean-pooled input embeddings
    /// (L2 chosen on validation); prints the table and writes OUT/probe.json
    Probe {
        /// Run configuration [default: configs/default.json]
        #[arg(long, value_name = "FILE", default_value = "configs/default.json")]
        config: PathBuf,
        /// The task mixture, as `pelt train --tasks`
        #[arg(long, value_name = "LIST")]
        tasks: Option<String>,
        /// Override any field, as `pelt train --set`
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Output directory (probe.json, and the data's caches)
        #[arg(long, value_name = "DIR", default_value = "runs/probe")]
        out: PathBuf,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Print the best model's answer (greedy) to one input
    Predict {
        /// The run directory
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        /// The task, by name
        #[arg(long, value_name = "NAME")]
        task: String,
        /// The source as the task formats it, e.g. "question: what color is the shape?"
        #[arg(long)]
        text: String,
        /// The image, for image tasks
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Write a task's generated adapters and prefixes as a static safetensors set that plain
    /// T5 runs without the hypernetwork (text models of hypernetwork and plain methods)
    Export {
        /// The run directory
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        /// The task, by name
        #[arg(long, value_name = "NAME")]
        task: String,
        /// Output file [default: DIR/export-NAME.safetensors]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        backend: BackendArg,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Run configuration, JSON or TOML (a `.toml` name) [default: configs/default.json,
    /// HyperPELT on the bundled data; with --resume, the run's own config.json; with
    /// --init-from, RUN/config.json]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run directory: config.json, log.jsonl, checkpoints/, best.safetensors, report.json,
    /// report.md, loss.png, validation.png
    #[arg(long, value_name = "DIR", default_value = "runs/default")]
    out: PathBuf,
    /// Continue from the run directory's last checkpoint (also with another device count); a
    /// configuration that changes what the run computes is refused, naming the fields
    #[arg(long)]
    resume: bool,
    /// With --resume: continue the run with a configuration that changes what it computes
    /// (the changed fields are printed and the run's config.json is replaced)
    #[arg(long, requires = "resume")]
    allow_changes: bool,
    #[command(flatten)]
    devices: DevicesArg,
    /// The tuning method
    #[arg(long, value_name = "M", value_enum)]
    method: Option<Method>,
    /// A T5 model directory or a Hugging Face id (`t5-base`, `google/flan-t5-base`), looked up
    /// in the local hub cache (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub) and
    /// downloaded there when missing and a network is available
    #[arg(long, value_name = "PATH_OR_ID")]
    t5: Option<String>,
    /// A CLIP model directory or Hugging Face id (`openai/clip-vit-base-patch32`), as --t5
    #[arg(long, value_name = "PATH_OR_ID")]
    clip: Option<String>,
    /// Root of the task directories, or hf:ORG/NAME whose configurations the tasks' DIR names
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The task mixture, comma-separated NAME or NAME=DIR (DIR under --data, or a hub data set
    /// id hf:ORG/NAME[/CONFIG]; default DIR is NAME)
    #[arg(long, value_name = "LIST")]
    tasks: Option<String>,
    /// Few-shot transfer: start from RUN's best model (all trainable parts but the task
    /// embedding); the new tasks get fresh task embeddings
    #[arg(long, value_name = "RUN")]
    init_from: Option<PathBuf>,
    /// Keep K training examples per class of each task (0: all)
    #[arg(long, value_name = "K")]
    shots: Option<usize>,
    /// What trains: all, or only the new task embeddings
    #[arg(long, value_name = "T", value_enum)]
    tune: Option<Tune>,
    /// Override any field, applied in order, e.g. --set train.steps=50 --set pelt.prefix_len=4
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Args)]
struct PretrainArgs {
    /// A configuration with a `pretrain` section (corpus from
    /// datasets/build/build_pretrain_corpus.py) [default: configs/pretrain-t5-mini.json; with
    /// --resume, the run's own config.json]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run directory
    #[arg(long, value_name = "DIR", default_value = "runs/pretrain")]
    out: PathBuf,
    /// Continue from the run directory's last checkpoint (also with another device count)
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    devices: DevicesArg,
    /// Override any field, applied in order, e.g. --set train.steps=50
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Train nothing: write the run's initial backbone (OUT/init/) and its first N training
    /// batches (OUT/batches.json), for a cross-check against PyTorch (docs/pretrain.md)
    #[arg(long, value_name = "N")]
    export_start: Option<u64>,
}

/// What `pelt eval` scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Split {
    /// Validation and test beside the majority baseline, into report.json and report.md
    All,
    /// The validation sets, printed
    Validation,
    /// The test sets, printed
    Test,
}

impl Split {
    /// The name `--split` takes.
    fn name(self) -> String {
        self.to_possible_value()
            .map(|value| value.get_name().to_string())
            .unwrap_or_default()
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
            Ok(TaskSource::new(name, dir.parse()?))
        })
        .collect()
}

/// With `--resume`, the run's own `config.json` where it has one: what a resume reads when no
/// `--config` is given.
fn own_config(resume: bool, out: &std::path::Path) -> Option<PathBuf> {
    Some(RunDir::new(out).config()).filter(|file| resume && file.is_file())
}

/// The run's configuration (file, then options, then `--set`) and its main device.
fn run_config(args: TrainArgs) -> Result<(RunConfig, burn::prelude::Device)> {
    let file = args
        .config
        .or_else(|| own_config(args.resume, &args.out))
        .or_else(|| args.init_from.as_ref().map(|run| RunDir::new(run).config()))
        .unwrap_or_else(|| PathBuf::from("configs/default.json"));
    let mut config = RunConfig::from_file(&file)?;
    if let Some(run) = args.init_from {
        if !RunDir::new(&run).best().is_file() {
            bail!(
                "--init-from {}: no best.safetensors (not a trained run)",
                run.display()
            );
        }
        config.init_from = Some(run);
    }
    if let Some(list) = args.tasks {
        config.tasks = task_list(&list)?;
    }
    if let Some(shots) = args.shots {
        config.train.shots = shots;
    }
    if let Some(tune) = args.tune {
        config.pelt.tune = tune;
    }
    if let Some(method) = args.method {
        config.pelt.method = method;
    }
    if let Some(t5) = args.t5 {
        config.t5 = Backbone::Path(PathBuf::from(t5));
    }
    if let Some(clip) = args.clip {
        config.clip = Some(Backbone::Path(PathBuf::from(clip)));
    }
    if let Some(data) = args.data {
        config.data = data.into();
    }
    for assignment in &args.set {
        config.set(assignment)?;
    }
    let device = args.devices.resolve(&mut config)?;
    config.validate()?;
    Ok((config, device))
}

/// `--resume --allow-changes`: prints how `config` changes the run in `out`, then makes it the
/// run's configuration, so that the resume takes it.
fn allow_changes(out: &std::path::Path, config: &RunConfig) -> Result<()> {
    let run = RunDir::new(out);
    if run.config().is_file() {
        for change in trajectory_changes(&RunConfig::from_file(run.config())?, config)? {
            eprintln!("warning: --allow-changes: {change}");
        }
    }
    Ok(run.write_config(config)?)
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

/// `pelt pretrain`: pretrains, or with `--export-start` writes the run's start.
fn pretrain_command(args: PretrainArgs) -> Result<()> {
    let file = args
        .config
        .or_else(|| own_config(args.resume, &args.out))
        .unwrap_or_else(|| PathBuf::from("configs/pretrain-t5-mini.json"));
    let mut config = RunConfig::from_file(&file)?;
    for assignment in &args.set {
        config.set(assignment)?;
    }
    let device = args.devices.resolve(&mut config)?;
    config.validate()?;
    if let Some(steps) = args.export_start {
        pretrain_start(&config, &args.out, steps)?;
        println!(
            "wrote {} (initial backbone) and {} ({steps} batches)",
            args.out.join("init").display(),
            args.out.join("batches.json").display()
        );
        return Ok(());
    }
    let report = interruptible(|stop| pretrain(&config, &args.out, args.resume, &device, stop))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `pelt eval`: the run's best model on `split`, printed, or the final report rewritten.
fn eval(run: &Path, split: Split, backend: &BackendArg) -> Result<()> {
    let device = backend::device(&backend.backend)?;
    let (config, model) = load_trained(run, &device)?;
    let data = load_data(&config, run, &device)?;
    let evaluator = Evaluator {
        batcher: &data.batcher,
        tokenizer: &data.tokenizer,
        train: &config.train,
        device: device.clone(),
    };
    let examples: fn(&TaskData) -> &[Example] = match split {
        Split::All => {
            let state =
                pelt_train::checkpoint::last_state(run)?.context("the run has no checkpoint")?;
            let report = final_report(&config, run, &model, &data, &evaluator, &state)?;
            println!("{}", report.markdown());
            return Ok(());
        }
        Split::Validation => |task| &task.validation,
        Split::Test => |task| &task.test,
    };
    let rows = evaluator.split_scores(&model, &data.tasks, examples)?;
    println!("{}", split_markdown(&split.name(), &rows));
    Ok(())
}

/// `pelt probe`: linear probes of the frozen backbone, printed and written to `out`.
fn probe_command(
    config: &Path,
    tasks: Option<&str>,
    set: &[String],
    out: &Path,
    backend: &BackendArg,
) -> Result<()> {
    let device = backend::device(&backend.backend)?;
    let mut config = RunConfig::from_file(config)?;
    if let Some(list) = tasks {
        config.tasks = task_list(list)?;
    }
    for assignment in set {
        config.set(assignment)?;
    }
    config.validate()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let results = probe(&config, out, &device)?;
    let file = out.join("probe.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", file.display()))?;
    println!("{}", probe_markdown(&results));
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    terminal::install();
    match cli.command {
        Command::Train(args) => {
            let (out, resume, allow) = (args.out.clone(), args.resume, args.allow_changes);
            let (config, device) = run_config(args)?;
            if allow {
                allow_changes(&out, &config)?;
            }
            let report = interruptible(|stop| train(&config, &out, resume, &device, stop))?;
            println!("{}", report.markdown());
            println!("run directory: {}", out.display());
        }
        Command::Pretrain(args) => pretrain_command(args)?,
        Command::Eval {
            run,
            split,
            backend,
        } => eval(&run, split, &backend)?,
        Command::Probe {
            config,
            tasks,
            set,
            out,
            backend,
        } => probe_command(&config, tasks.as_deref(), &set, &out, &backend)?,
        Command::Predict {
            run,
            task,
            text,
            image,
            backend,
        } => {
            let device = backend::device(&backend.backend)?;
            println!(
                "{}",
                predict(&run, &task, &text, image.as_deref(), &device)?
            );
        }
        Command::Export {
            run,
            task,
            out,
            backend,
        } => {
            let device = backend::device(&backend.backend)?;
            let out = out.unwrap_or_else(|| RunDir::new(&run).export(&task));
            let (_, model) = load_trained(&run, &device)?;
            model.export_task(&task, &out)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_device_list_and_an_explicit_backend_are_not_both_taken() {
        let args = |backend: &str, devices: Option<&str>| DevicesArg {
            backend: BackendArg {
                backend: backend.into(),
            },
            devices: devices.map(str::to_string),
        };
        let mut config = RunConfig::from_file("../../configs/default.json").unwrap();
        args("auto", Some("cpu,cpu")).resolve(&mut config).unwrap();
        assert_eq!(
            config.train.devices,
            backend::device_list("cpu,cpu").unwrap()
        );
        let err = args("flex", None).resolve(&mut config).unwrap_err();
        assert!(err.to_string().contains("both choose devices"), "{err}");
        assert!(
            Cli::try_parse_from(["pelt", "train", "--backend", "flex", "--devices", "cpu"])
                .is_err()
        );
    }

    #[test]
    fn sets_apply_in_order_and_unknown_options_are_refused() {
        let cli = Cli::try_parse_from([
            "pelt",
            "train",
            "--set",
            "train.steps=5",
            "--method",
            "adapters",
            "--set",
            "train.steps=7",
        ])
        .unwrap();
        let Command::Train(args) = cli.command else {
            panic!("not train")
        };
        assert_eq!(args.set, ["train.steps=5", "train.steps=7"]);
        assert_eq!(args.out, PathBuf::from("runs/default"));
        let err = Cli::try_parse_from(["pelt", "train", "--method", "lora"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("lora") && err.contains("hyperpelt"), "{err}");
        assert!(Cli::try_parse_from(["pelt", "train", "--stepz", "3"]).is_err());
    }

    #[test]
    fn method_tune_and_split_take_the_names_of_configuration_files() {
        let train = |option: &str, value: &str| {
            let cli = Cli::try_parse_from(["pelt", "train", option, value]).unwrap();
            let Command::Train(args) = cli.command else {
                panic!("not train")
            };
            args
        };
        for method in Method::ALL {
            assert_eq!(train("--method", method.name()).method, Some(method));
        }
        for (name, tune) in [("all", Tune::All), ("task-embedding", Tune::TaskEmbedding)] {
            assert_eq!(train("--tune", name).tune, Some(tune));
            assert_eq!(serde_json::to_value(tune).unwrap(), name);
        }
        assert!(Cli::try_parse_from(["pelt", "train", "--tune", "some"]).is_err());
        let split = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Eval { split, .. } => split,
            _ => panic!("not eval"),
        };
        assert_eq!(split(&["pelt", "eval", "--run", "r"]), Split::All);
        assert_eq!(Split::Validation.name(), "validation");
        let test = split(&["pelt", "eval", "--run", "r", "--split", "test"]);
        assert_eq!(test, Split::Test);
        assert_eq!(test.name(), "test");
        let err = Cli::try_parse_from(["pelt", "eval", "--run", "r", "--split", "dev"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("dev") && err.contains("validation"), "{err}");
    }
}
