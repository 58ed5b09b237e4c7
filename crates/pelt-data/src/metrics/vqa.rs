//! VQA soft accuracy with the official answer normalisation, and GQA exact match.
//!
//! Follows the official VQA evaluation (`vqaEval.py` of the VQA API), quirks included, so scores
//! match the leaderboard's:
//! - the prediction is cleaned (newlines and tabs to spaces, trimmed), then punctuation is
//!   processed, then number words, articles and contractions;
//! - the ground-truth answers get only the punctuation step, and only when they disagree;
//! - punctuation next to a space (or anywhere, when the text has a `digit,digit`) is deleted,
//!   otherwise replaced by a space; periods not followed by a digit are deleted, at most 32 of
//!   them (the reference passes `re.UNICODE` where `re.sub` expects its count);
//! - accuracy is `min(1, matches / 3)` averaged over the leave-one-annotator-out subsets.

use crate::error::Result;
use crate::metrics::classification::check_lengths;

const PUNCT: [char; 21] = [
    ';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',',
    '?', '!',
];

/// The reference passes `re.UNICODE` (= 32) as `re.sub`'s count.
const MAX_PERIODS_STRIPPED: usize = 32;

const NUMBER_WORDS: [(&str, &str); 12] = [
    ("none", "0"),
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
];

const ARTICLES: [&str; 3] = ["a", "an", "the"];

/// Apostrophe-less spellings and their contracted forms (the official table; entries that could
/// never match after lower-casing, such as `"Im"`, are left out).
const CONTRACTIONS: &[(&str, &str)] = &[
    ("aint", "ain't"),
    ("arent", "aren't"),
    ("cant", "can't"),
    ("couldve", "could've"),
    ("couldnt", "couldn't"),
    ("couldn'tve", "couldn't've"),
    ("couldnt've", "couldn't've"),
    ("didnt", "didn't"),
    ("doesnt", "doesn't"),
    ("dont", "don't"),
    ("hadnt", "hadn't"),
    ("hadnt've", "hadn't've"),
    ("hadn'tve", "hadn't've"),
    ("hasnt", "hasn't"),
    ("havent", "haven't"),
    ("hed", "he'd"),
    ("hed've", "he'd've"),
    ("he'dve", "he'd've"),
    ("hes", "he's"),
    ("howd", "how'd"),
    ("howll", "how'll"),
    ("hows", "how's"),
    ("isnt", "isn't"),
    ("itd", "it'd"),
    ("itd've", "it'd've"),
    ("it'dve", "it'd've"),
    ("itll", "it'll"),
    ("let's", "let's"),
    ("maam", "ma'am"),
    ("mightnt", "mightn't"),
    ("mightnt've", "mightn't've"),
    ("mightn'tve", "mightn't've"),
    ("mightve", "might've"),
    ("mustnt", "mustn't"),
    ("mustve", "must've"),
    ("neednt", "needn't"),
    ("notve", "not've"),
    ("oclock", "o'clock"),
    ("oughtnt", "oughtn't"),
    ("ow's'at", "'ow's'at"),
    ("'ows'at", "'ow's'at"),
    ("'ow'sat", "'ow's'at"),
    ("shant", "shan't"),
    ("shed've", "she'd've"),
    ("she'dve", "she'd've"),
    ("she's", "she's"),
    ("shouldve", "should've"),
    ("shouldnt", "shouldn't"),
    ("shouldnt've", "shouldn't've"),
    ("shouldn'tve", "shouldn't've"),
    ("somebody'd", "somebodyd"),
    ("somebodyd've", "somebody'd've"),
    ("somebody'dve", "somebody'd've"),
    ("somebodyll", "somebody'll"),
    ("somebodys", "somebody's"),
    ("someoned", "someone'd"),
    ("someoned've", "someone'd've"),
    ("someone'dve", "someone'd've"),
    ("someonell", "someone'll"),
    ("someones", "someone's"),
    ("somethingd", "something'd"),
    ("somethingd've", "something'd've"),
    ("something'dve", "something'd've"),
    ("somethingll", "something'll"),
    ("thats", "that's"),
    ("thered", "there'd"),
    ("thered've", "there'd've"),
    ("there'dve", "there'd've"),
    ("therere", "there're"),
    ("theres", "there's"),
    ("theyd", "they'd"),
    ("theyd've", "they'd've"),
    ("they'dve", "they'd've"),
    ("theyll", "they'll"),
    ("theyre", "they're"),
    ("theyve", "they've"),
    ("twas", "'twas"),
    ("wasnt", "wasn't"),
    ("wed've", "we'd've"),
    ("we'dve", "we'd've"),
    ("weve", "we've"),
    ("werent", "weren't"),
    ("whatll", "what'll"),
    ("whatre", "what're"),
    ("whats", "what's"),
    ("whatve", "what've"),
    ("whens", "when's"),
    ("whered", "where'd"),
    ("wheres", "where's"),
    ("whereve", "where've"),
    ("whod", "who'd"),
    ("whod've", "who'd've"),
    ("who'dve", "who'd've"),
    ("wholl", "who'll"),
    ("whos", "who's"),
    ("whove", "who've"),
    ("whyll", "why'll"),
    ("whyre", "why're"),
    ("whys", "why's"),
    ("wont", "won't"),
    ("wouldve", "would've"),
    ("wouldnt", "wouldn't"),
    ("wouldnt've", "wouldn't've"),
    ("wouldn'tve", "wouldn't've"),
    ("yall", "y'all"),
    ("yall'll", "y'all'll"),
    ("y'allll", "y'all'll"),
    ("yall'd've", "y'all'd've"),
    ("y'alld've", "y'all'd've"),
    ("y'all'dve", "y'all'd've"),
    ("youd", "you'd"),
    ("youd've", "you'd've"),
    ("you'dve", "you'd've"),
    ("youll", "you'll"),
    ("youre", "you're"),
    ("youve", "you've"),
];

fn has_digit_comma_digit(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == ',' && w[2].is_ascii_digit())
}

/// The official `processPunctuation` step.
pub fn process_punctuation(text: &str) -> String {
    let delete_all = has_digit_comma_digit(text);
    let mut out = text.to_owned();
    for p in PUNCT {
        if !out.contains(p) {
            continue;
        }
        let spaced = text.contains(&format!("{p} ")) || text.contains(&format!(" {p}"));
        let replacement = if spaced || delete_all { "" } else { " " };
        out = out.replace(p, replacement);
    }
    let chars: Vec<char> = out.chars().collect();
    let mut stripped = String::with_capacity(out.len());
    let mut removed = 0;
    for (i, &c) in chars.iter().enumerate() {
        let before_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c == '.' && !before_digit && removed < MAX_PERIODS_STRIPPED {
            removed += 1;
        } else {
            stripped.push(c);
        }
    }
    stripped
}

/// The official `processDigitArticle` step: lower-case, number words to digits, drop articles,
/// restore contractions.
pub fn process_digit_article(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split_whitespace()
        .map(|w| {
            NUMBER_WORDS
                .iter()
                .find(|(k, _)| *k == w)
                .map_or(w, |(_, v)| v)
        })
        .filter(|w| !ARTICLES.contains(w))
        .map(|w| {
            CONTRACTIONS
                .iter()
                .find(|(k, _)| *k == w)
                .map_or(w, |(_, v)| v)
        })
        .collect();
    words.join(" ")
}

/// A prediction normalised as the official evaluation does before matching.
pub fn normalize_answer(prediction: &str) -> String {
    let cleaned = prediction.replace(['\n', '\t'], " ");
    process_digit_article(&process_punctuation(cleaned.trim()))
}

/// Soft accuracy of one prediction against its annotators' answers, in `[0, 1]`.
pub fn vqa_score<A: AsRef<str>>(prediction: &str, answers: &[A]) -> f64 {
    if answers.is_empty() {
        return 0.0;
    }
    let prediction = normalize_answer(prediction);
    let first = answers[0].as_ref();
    let disagree = answers.iter().any(|a| a.as_ref() != first);
    let gts: Vec<String> = answers
        .iter()
        .map(|a| {
            if disagree {
                process_punctuation(a.as_ref())
            } else {
                a.as_ref().to_owned()
            }
        })
        .collect();
    let matching = gts.iter().filter(|g| **g == prediction).count();
    // Leaving out annotator i removes one match exactly when annotator i matched.
    let total: f64 = gts
        .iter()
        .map(|g| {
            let others = matching - usize::from(*g == prediction);
            (others as f64 / 3.0).min(1.0)
        })
        .sum();
    total / gts.len() as f64
}

/// Mean VQA soft accuracy, in `[0, 1]`; `references[i]` are the answers of question `i`.
pub fn vqa_accuracy<P: AsRef<str>, A: AsRef<str>>(
    predictions: &[P],
    references: &[Vec<A>],
) -> Result<f64> {
    check_lengths("vqa_accuracy", predictions.len(), references.len())?;
    let sum: f64 = predictions
        .iter()
        .zip(references)
        .map(|(p, answers)| vqa_score(p.as_ref(), answers))
        .sum();
    Ok(sum / predictions.len() as f64)
}

/// GQA exact match: fraction of trimmed predictions equal to the answer, in `[0, 1]`.
pub fn exact_match<P: AsRef<str>, T: AsRef<str>>(predictions: &[P], answers: &[T]) -> Result<f64> {
    check_lengths("exact_match", predictions.len(), answers.len())?;
    let hits = predictions
        .iter()
        .zip(answers)
        .filter(|(p, a)| p.as_ref().trim() == a.as_ref())
        .count();
    Ok(hits as f64 / answers.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_examples() {
        assert_eq!(normalize_answer("Two"), "2");
        assert_eq!(normalize_answer(" a dog.\n"), "dog");
        assert_eq!(normalize_answer("dont"), "don't");
        assert_eq!(normalize_answer("1,000"), "1000");
        assert_eq!(normalize_answer("3.5"), "3.5");
        assert_eq!(normalize_answer("yes!"), "yes");
        assert_eq!(normalize_answer("black-and-white"), "black and white");
        assert_eq!(normalize_answer("black - white"), "black white");
    }

    #[test]
    fn soft_accuracy_hand_worked() {
        let ten = vec!["yes"; 10];
        assert_eq!(vqa_score("yes", &ten), 1.0);
        assert_eq!(vqa_score("", &ten), 0.0);
        // Two of ten say "2": subsets without one of them have 1 match (1/3), the other eight
        // subsets have 2 matches (2/3): (2 * 1/3 + 8 * 2/3) / 10.
        let mixed = vec!["2", "2", "3", "3", "3", "3", "3", "3", "3", "3"];
        let expected = (2.0 / 3.0 + 8.0 * 2.0 / 3.0) / 10.0;
        assert!((vqa_score("two", &mixed) - expected).abs() < 1e-15);
        assert_eq!(vqa_score("3", &mixed), 1.0);
    }

    #[test]
    fn exact_match_is_exact() {
        assert_eq!(exact_match(&["yes ", "No"], &["yes", "no"]).unwrap(), 0.5);
    }
}
