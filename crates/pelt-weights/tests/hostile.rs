//! Checkpoints from strangers: broken or hostile safetensors headers and a pickle that tries
//! to call `os.system` are refused with an error naming the file, without reading past the
//! file, allocating what the header claims, or executing anything.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;

use pelt_weights::Checkpoint;

fn dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pelt-hostile-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A safetensors file: 8-byte little-endian header length, header, data.
fn safetensors(declared_len: u64, header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = declared_len.to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// The error of opening `bytes` as `file` (or of reading its tensors, when opening is lazy);
/// it must name the file.
fn refused(tag: &str, file: &str, bytes: &[u8]) -> String {
    let dir = dir(tag);
    let path = dir.join(file);
    fs::write(&path, bytes).unwrap();
    let err = match Checkpoint::open(&path) {
        Ok(checkpoint) => {
            let names: Vec<String> = checkpoint.tensors().map(|m| m.name.clone()).collect();
            names
                .iter()
                .find_map(|n| checkpoint.read_f32(n).err())
                .map(|p| format!("{}: {p}", path.display()))
                .unwrap_or_else(|| panic!("{tag}: accepted"))
        }
        Err(e) => e.to_string(),
    };
    eprintln!("{tag}: {err}");
    assert!(
        err.contains(file),
        "{tag}: the error does not name the file: {err}"
    );
    fs::remove_dir_all(&dir).unwrap();
    err
}

/// A file whose header is `header` over 8 zero bytes of data must be refused.
fn header_refused(tag: &str, header: &str) {
    let bytes = safetensors(header.len() as u64, header, &[0; 8]);
    refused(tag, "model.safetensors", &bytes);
}

#[test]
fn a_header_claiming_a_huge_length_is_refused() {
    let bytes = safetensors(u64::MAX / 2, "{}", &[]);
    refused("huge", "model.safetensors", &bytes);
}

#[test]
fn invalid_header_json_is_refused() {
    header_refused(
        "json",
        r#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]"#,
    );
}

#[test]
fn offsets_outside_the_file_are_refused() {
    header_refused(
        "offsets",
        r#"{"w": {"dtype": "F32", "shape": [1000000], "data_offsets": [0, 4000000]}}"#,
    );
}

#[test]
fn a_shape_disagreeing_with_its_offsets_is_refused() {
    header_refused(
        "shape",
        r#"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#,
    );
}

#[test]
fn an_unknown_dtype_is_refused() {
    header_refused(
        "dtype",
        r#"{"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}"#,
    );
}

#[test]
fn a_pickle_calling_os_system_is_refused_without_running_it() {
    let marker = std::env::temp_dir().join(format!("pelt-pwned-{}", std::process::id()));
    let _ = fs::remove_file(&marker);
    // Protocol-2 pickle of `os.system("touch MARKER")`: GLOBAL, argument tuple, REDUCE.
    let mut pickle = b"\x80\x02cos\nsystem\nq\x00X".to_vec();
    let command = format!("touch {}", marker.display());
    pickle.extend_from_slice(&(command.len() as u32).to_le_bytes());
    pickle.extend_from_slice(command.as_bytes());
    pickle.extend_from_slice(b"\x85q\x01Rq\x02.");
    let err = refused("pickle", "pytorch_model.bin", &pickle);
    assert!(!marker.exists(), "the pickle ran: {err}");
}
