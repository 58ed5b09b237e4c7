//! Row-wise CPU kernels' plumbing, shared by the fused operations (`softmax`, `norm`): a
//! tensor's f32 rows as one owned buffer, and rows split over rayon's threads.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Shape, TensorData};
use rayon::prelude::*;

/// The fewest elements a thread is handed; a smaller tensor is done on the calling thread.
const MIN_PARALLEL: usize = 1 << 15;

/// The last axis's length of an f32 tensor with at least one element; `None` for any other
/// tensor, which the composed operations handle.
pub(crate) fn row_length(x: &FlexTensor) -> Option<usize> {
    let n = x.layout().shape().iter().last().copied()?;
    (x.dtype() == DType::F32 && x.layout().num_elements() > 0).then_some(n)
}

/// `x` as one contiguous buffer from offset 0 holding exactly its elements: `x` itself when it
/// is one, else a copy. (Writing through it still copies a buffer that is shared.)
pub(crate) fn owned(x: FlexTensor) -> FlexTensor {
    let n = x.layout().num_elements();
    let exact =
        x.layout().contiguous_offsets() == Some((0, n)) && x.bytes().len() == n * x.dtype().size();
    if exact {
        x
    } else {
        FlexTensor::from_data(x.into_data())
    }
}

pub(crate) fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `[..., n]` → `[..., 1]`.
pub(crate) fn row_shape(shape: Shape) -> Shape {
    let mut dims = shape.to_vec();
    if let Some(last) = dims.last_mut() {
        *last = 1;
    }
    Shape::from(dims)
}

/// Runs `work(scratch, row)` on every row of `n` elements, rows split over rayon's threads in
/// runs of at least [`MIN_PARALLEL`] elements: a smaller tensor is one run, which rayon does on
/// the calling thread. `scratch` is a buffer a run reuses from row to row.
pub(crate) fn for_rows<T: Send>(
    n: usize,
    rows: impl IndexedParallelIterator<Item = T>,
    work: impl Fn(&mut Vec<f32>, T) + Sync + Send,
) {
    rows.with_min_len(MIN_PARALLEL.div_ceil(n))
        .for_each_init(|| Vec::with_capacity(n), |scratch, row| work(scratch, row));
}
