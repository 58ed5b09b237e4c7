//! What reading a data set skipped, so nothing is dropped silently: it goes into the run's report.

use crate::record::Origin;

/// How many locations of skipped rows are kept for the report.
const KEPT_LOCATIONS: usize = 10;

/// Counts of rows that were read, and of rows skipped with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Rows turned into examples.
    pub examples: usize,
    /// Malformed rows skipped because the caller asked for it (`LoadOptions::skip_malformed`).
    pub skipped_malformed: usize,
    /// Rows the reference code also drops: QQP rows with missing columns.
    pub skipped_known_malformed: usize,
    /// Rows without an agreed label (`"-"` in MNLI/SNLI-style files).
    pub skipped_no_consensus: usize,
    /// `file:line` of the first skipped rows, with the reason.
    pub locations: Vec<String>,
}

impl ReadReport {
    fn note(&mut self, origin: &Origin, reason: &str) {
        if self.locations.len() < KEPT_LOCATIONS {
            self.locations.push(format!(
                "{}:{}: {reason}",
                origin.path.display(),
                origin.line
            ));
        }
    }

    /// Counts a malformed row skipped on request.
    pub fn skip_malformed(&mut self, origin: &Origin, reason: &str) {
        self.skipped_malformed += 1;
        self.note(origin, reason);
    }

    /// Counts a known-malformed row that the reference code drops too.
    pub fn skip_known_malformed(&mut self, origin: &Origin, reason: &str) {
        self.skipped_known_malformed += 1;
        self.note(origin, reason);
    }

    /// Counts a row without an agreed label.
    pub fn skip_no_consensus(&mut self, origin: &Origin) {
        self.skipped_no_consensus += 1;
        self.note(origin, "no consensus label \"-\"");
    }

    /// Adds another report's counts (for a task read from several files).
    pub fn merge(&mut self, other: &ReadReport) {
        self.examples += other.examples;
        self.skipped_malformed += other.skipped_malformed;
        self.skipped_known_malformed += other.skipped_known_malformed;
        self.skipped_no_consensus += other.skipped_no_consensus;
        for loc in &other.locations {
            if self.locations.len() < KEPT_LOCATIONS {
                self.locations.push(loc.clone());
            }
        }
    }

    /// Total rows skipped for any reason.
    pub fn skipped(&self) -> usize {
        self.skipped_malformed + self.skipped_known_malformed + self.skipped_no_consensus
    }
}

impl std::fmt::Display for ReadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} examples; skipped {} malformed (on request), {} known-malformed, {} without consensus label",
            self.examples,
            self.skipped_malformed,
            self.skipped_known_malformed,
            self.skipped_no_consensus
        )
    }
}
