//! What `pelt` shows on stderr: the library's messages (`tracing` events of `pelt_train` at
//! `info` and above), each line exactly as the library wrote it, and its progress spans
//! (`pelt_train::progress`) as `indicatif` bars, which draw nothing when stderr is not a
//! terminal. Installed once by `main`; a program that embeds the library without it gets
//! silence.

use std::fmt;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use pelt_train::progress::{TARGET, Unit};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Makes [`Terminal`] the process's subscriber.
pub fn install() {
    // Fails only when a subscriber is already installed, which then keeps reporting.
    let _ = tracing_subscriber::registry()
        .with(Terminal::default())
        .try_init();
}

/// The subscriber's one layer: prints messages and draws progress bars.
#[derive(Default)]
struct Terminal {
    /// The bars being drawn, newest last; a message is printed with the newest hidden.
    bars: Mutex<Vec<(Id, ProgressBar)>>,
}

impl Terminal {
    fn bars(&self) -> std::sync::MutexGuard<'_, Vec<(Id, ProgressBar)>> {
        self.bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Terminal {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > Level::INFO || !meta.target().starts_with("pelt_train") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = fields.message.unwrap_or_default();
        match self.bars().last() {
            Some((_, bar)) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().target() != TARGET {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let bar = ProgressBar::new(fields.len.unwrap_or(0))
            .with_position(fields.pos.unwrap_or(0))
            .with_message(fields.message.unwrap_or_default());
        let style = if fields.unit.as_deref() == Some(Unit::Bytes.name()) {
            // hf-hub's download bar.
            ProgressStyle::with_template(
                "{msg} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
            )
        } else {
            ProgressStyle::with_template(
                "[{bar:30}] {pos}/{len} {msg} ({elapsed} elapsed, ~{eta} left)",
            )
            .map(|style| style.progress_chars("#>-"))
        };
        if let Ok(style) = style {
            bar.set_style(style);
        }
        self.bars().push((id.clone(), bar));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let bars = self.bars();
        let Some((_, bar)) = bars.iter().find(|(bar_id, _)| bar_id == id) else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(pos) = fields.pos {
            bar.set_position(pos);
        }
        if let Some(message) = fields.message {
            bar.set_message(message);
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut bars = self.bars();
        if let Some(k) = bars.iter().position(|(bar_id, _)| *bar_id == id) {
            // Left on the screen as it stands, finished or not.
            bars.remove(k).1.abandon();
        }
    }
}

/// The fields of an event or a progress span that `Terminal` reads.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    unit: Option<String>,
    len: Option<u64>,
    pos: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "len" => self.len = Some(value),
            "pos" => self.pos = Some(value),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_string()),
            "unit" => self.unit = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // An event's text arrives as `fmt::Arguments`, whose `Debug` is its text.
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        }
    }
}
