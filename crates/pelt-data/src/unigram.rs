//! The Unigram model's Viterbi search, re-implemented exactly, on a flat byte trie.
//!
//! `tokenizers` 0.22 walks a trie of hash maps, allocates a `Vec` and a `String` for every prefix
//! it matches and looks each one up again in a `String`-keyed map: on a first pass over new text
//! that was three quarters of the batcher's time. This is the same search (`encode_optimized`
//! upstream, itself SentencePiece's): the same candidates in the same order (shortest first), the
//! same `f64` scores and strict `>` on ties, the same unknown-character score (lowest piece score
//! minus 10) and the same fusing of adjacent unknown pieces; only the data structures differ.
//! The tests compare it with the `tokenizers` model on every word of the bundled corpora.

use tokenizers::Tokenizer;
use tokenizers::models::ModelWrapper;

/// `K_UNK_PENALTY` of `tokenizers` (and SentencePiece): unknown characters score this much below
/// the lowest-scoring piece.
const UNK_PENALTY: f64 = 10.0;

/// No piece ends at this trie node.
const NO_PIECE: u32 = u32::MAX;

/// Nodes with more children than this get a 256-entry table; the rest are scanned. In the T5
/// vocabulary that is about 500 of 83,000 nodes, the ones near the root every word passes.
const SCAN_LIMIT: usize = 8;

/// One trie node: the piece spelled by the path to it (if any) and where its children are.
/// Nodes are stored breadth first, so a node's children are consecutive, in label order.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Vocabulary id, or [`NO_PIECE`].
    id: u32,
    /// Index of the first child.
    children: u32,
    /// The children's labels are `labels[edges..edges + len]`; for a node with more than
    /// [`SCAN_LIMIT`] children, `dense[edges..edges + 256]` holds the child of each byte (0: none).
    edges: u32,
    len: u32,
}

/// A Unigram model's pieces as a flat byte trie, with its unknown-token settings.
#[derive(Debug, Clone)]
pub(crate) struct FastUnigram {
    nodes: Vec<Node>,
    labels: Vec<u8>,
    dense: Vec<u32>,
    /// Score of each vocabulary id.
    scores: Vec<f64>,
    unk_id: u32,
    unk_score: f64,
}

/// A search state: the best path ending at a byte position.
#[derive(Debug, Clone, Copy)]
struct Best {
    score: f64,
    /// Where its last piece starts; `usize::MAX` while no path ends here.
    start: usize,
    id: u32,
}

impl FastUnigram {
    /// The model of `tokenizer` if it is a Unigram model this reproduces: with an unknown token
    /// and without byte fallback (the T5 tokenizer); `None` otherwise.
    pub fn of(tokenizer: &Tokenizer) -> Option<Self> {
        let ModelWrapper::Unigram(model) = tokenizer.get_model() else {
            return None;
        };
        if model.byte_fallback() {
            return None;
        }
        // The serialised model is the only public view of the scores; `to_value` keeps each
        // `f64` as it is (no text round trip).
        let value = serde_json::to_value(model).ok()?;
        let unk_id = u32::try_from(value.get("unk_id")?.as_u64()?).ok()?;
        let vocab = value.get("vocab")?.as_array()?;
        let mut pieces = Vec::with_capacity(vocab.len());
        for entry in vocab {
            let piece = entry.get(0)?.as_str()?;
            let score = entry.get(1)?.as_f64()?;
            pieces.push((piece, score));
        }
        Self::from_pieces(&pieces, unk_id)
    }

    /// Builds the trie of `pieces` (id = position). As upstream, a piece listed twice takes the
    /// later id, and its score is that id's.
    fn from_pieces(pieces: &[(&str, f64)], unk_id: u32) -> Option<Self> {
        if pieces.is_empty() || unk_id as usize >= pieces.len() {
            return None;
        }
        // A growable tree first, then laid out breadth first.
        let mut ids: Vec<u32> = vec![NO_PIECE];
        let mut children: Vec<Vec<(u8, usize)>> = vec![Vec::new()];
        for (id, (piece, _)) in pieces.iter().enumerate() {
            let mut node = 0usize;
            for &byte in piece.as_bytes() {
                node = match children[node].iter().find(|&&(b, _)| b == byte) {
                    Some(&(_, child)) => child,
                    None => {
                        let child = ids.len();
                        ids.push(NO_PIECE);
                        children.push(Vec::new());
                        children[node].push((byte, child));
                        child
                    }
                };
            }
            ids[node] = u32::try_from(id).ok()?;
        }
        let mut order = vec![0usize];
        let mut nodes = Vec::with_capacity(ids.len());
        let mut labels = Vec::with_capacity(ids.len());
        let mut dense = Vec::new();
        let mut next = 0;
        while next < order.len() {
            let old = order[next];
            next += 1;
            let edges = &mut children[old];
            edges.sort_unstable_by_key(|&(b, _)| b);
            let first_child = order.len();
            order.extend(edges.iter().map(|&(_, c)| c));
            let start = if edges.len() > SCAN_LIMIT {
                let start = dense.len();
                dense.resize(start + 256, 0);
                for (k, &(b, _)) in edges.iter().enumerate() {
                    dense[start + usize::from(b)] = u32::try_from(first_child + k).ok()?;
                }
                start
            } else {
                labels.extend(edges.iter().map(|&(b, _)| b));
                labels.len() - edges.len()
            };
            nodes.push(Node {
                id: ids[old],
                children: u32::try_from(first_child).ok()?,
                edges: u32::try_from(start).ok()?,
                len: u32::try_from(edges.len()).ok()?,
            });
        }
        let scores: Vec<f64> = pieces.iter().map(|&(_, s)| s).collect();
        let min_score = scores.iter().copied().fold(f64::INFINITY, f64::min);
        Some(Self {
            nodes,
            labels,
            dense,
            scores,
            unk_id,
            unk_score: min_score - UNK_PENALTY,
        })
    }

    fn child(&self, node: u32, byte: u8) -> Option<u32> {
        let n = &self.nodes[node as usize];
        let edges = n.edges as usize;
        if n.len as usize > SCAN_LIMIT {
            // The root is nobody's child, so 0 is free to mean "no edge".
            let child = self.dense[edges + usize::from(byte)];
            return (child != 0).then_some(child);
        }
        let labels = &self.labels[edges..edges + n.len as usize];
        let at = labels.iter().position(|&b| b == byte)?;
        Some(n.children + at as u32)
    }

    /// The id of the piece spelled exactly by `bytes`.
    fn exact(&self, bytes: &[u8]) -> Option<u32> {
        let mut node = 0;
        for &b in bytes {
            node = self.child(node, b)?;
        }
        let id = self.nodes[node as usize].id;
        (id != NO_PIECE).then_some(id)
    }

    /// Ids of `text` (already normalised and pre-tokenised), as `Model::tokenize` gives them.
    pub fn ids(&self, text: &str) -> Vec<u32> {
        let bytes = text.as_bytes();
        let size = bytes.len();
        if size == 0 {
            return Vec::new();
        }
        let unset = Best {
            score: 0.0,
            start: usize::MAX,
            id: 0,
        };
        let mut best = vec![unset; size + 1];
        best[0].start = 0;
        let mut start = 0;
        for (at, ch) in text.char_indices() {
            debug_assert_eq!(at, start);
            let here = best[start].score;
            let char_len = ch.len_utf8();
            let mut has_single = false;
            let mut node = 0;
            for (end, &byte) in bytes.iter().enumerate().skip(start) {
                let Some(next) = self.child(node, byte) else {
                    break;
                };
                node = next;
                let id = self.nodes[node as usize].id;
                if id == NO_PIECE {
                    continue;
                }
                let candidate = self.scores[id as usize] + here;
                let target = &mut best[end + 1];
                if target.start == usize::MAX || candidate > target.score {
                    *target = Best {
                        score: candidate,
                        start,
                        id,
                    };
                }
                has_single |= end + 1 - start == char_len;
            }
            if !has_single {
                let candidate = self.unk_score + here;
                let target = &mut best[start + char_len];
                if target.start == usize::MAX || candidate > target.score {
                    *target = Best {
                        score: candidate,
                        start,
                        id: self.unk_id,
                    };
                }
            }
            start += char_len;
        }
        // Walk back; adjacent unknown pieces fuse into one, which keeps a vocabulary id if the
        // fused text happens to be a piece, as upstream's string lookup would give it.
        let mut ids = Vec::new();
        let mut end = size;
        let mut unk_from: Option<usize> = None;
        let mut unk_to = 0;
        while end > 0 {
            let b = best[end];
            if b.id == self.unk_id {
                if unk_from.is_none() {
                    unk_to = end;
                }
                unk_from = Some(b.start);
            } else {
                if let Some(from) = unk_from.take() {
                    ids.push(self.exact(&bytes[from..unk_to]).unwrap_or(self.unk_id));
                }
                ids.push(b.id);
            }
            end = b.start;
        }
        if let Some(from) = unk_from {
            ids.push(self.exact(&bytes[from..unk_to]).unwrap_or(self.unk_id));
        }
        ids.reverse();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use tokenizers::Model;

    fn t5() -> Tokenizer {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/t5-tokenizer/tokenizer.json");
        Tokenizer::from_file(path).unwrap()
    }

    fn upstream(tokenizer: &Tokenizer, text: &str) -> Vec<u32> {
        let tokens = tokenizer.get_model().tokenize(text).unwrap();
        tokens.iter().map(|t| t.id).collect()
    }

    #[test]
    fn equals_the_tokenizers_model_on_every_bundled_word_and_edge_cases() {
        let tokenizer = t5();
        let fast = FastUnigram::of(&tokenizer).unwrap();
        let mut words: Vec<String> = [
            "",
            "\u{2581}",
            "\u{2581}\u{2581}",
            "a",
            "\u{2581}The",
            "\u{2581}<unk>",
            "\u{2581}</s>x",
            "<pad><unk>",
            "\u{2581}\u{1f600}\u{1f600}x\u{1f600}",
            "\u{2581}\u{4e2d}\u{6587}\u{5b57}",
            "\u{2581}caf\u{e9}",
            "\u{2581}\u{fffd}\u{0}\u{1}",
            "\u{2581}zzzzzzzzzzzzqqqqqqqq",
        ]
        .map(str::to_owned)
        .to_vec();
        for text in crate::encoder::tests::bundled_sentences() {
            let pieces = text.split(' ').filter(|w| !w.is_empty());
            words.extend(pieces.map(|w| format!("\u{2581}{w}")));
        }
        assert!(words.len() > 100_000, "{} words", words.len());
        for word in &words {
            assert_eq!(fast.ids(word), upstream(&tokenizer, word), "{word:?}");
        }
    }

    #[test]
    fn ties_keep_the_first_candidate_and_unknown_runs_fuse() {
        // "ab" ties "a" + "b": reached first (from position 0), it keeps position 2.
        let pieces = [
            ("<unk>", 0.0),
            ("a", -1.0),
            ("b", -1.0),
            ("ab", -2.0),
            ("c", -9.0),
        ];
        let fast = FastUnigram::from_pieces(&pieces, 0).unwrap();
        assert_eq!(fast.ids("ab"), [3]);
        assert_eq!(fast.ids("ba"), [2, 1]);
        // Unknown characters (and a literal unknown piece) next to each other fuse into one.
        assert_eq!(fast.ids("zz"), [0]);
        assert_eq!(fast.ids("azz\u{e9}b"), [1, 0, 2]);
        assert_eq!(fast.ids("<unk>z"), [0]);
        let tokenizer = t5();
        let fast = FastUnigram::of(&tokenizer).unwrap();
        for text in ["\u{2581}a\u{1f600}\u{1f600}b", "<unk>\u{1f600}"] {
            assert_eq!(fast.ids(text), upstream(&tokenizer, text), "{text:?}");
        }
    }
}
