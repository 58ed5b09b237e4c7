//! Packed right operands kept for the next product (hyperpelt-rs patch; see `vendor/README.md`
//! in hyperpelt-rs, item 7).
//!
//! With bf16 products on, a product rounds and packs its right operand ([`PackedRhs`]). A
//! frozen weight is the right operand of the same products at every step (`x · W` forward,
//! `dy · Wᵀ` backward), and next to the AMX kernel's speed packing it again costs about as much
//! as the product. So a 2-D product's right operand keeps its packing from the second product
//! that reads the same storage through the same view, for as long as that storage lives
//! unchanged:
//!
//! - An entry holds a `Weak` of the operand's `Arc<Bytes>`, never a strong one: the cache keeps
//!   no tensor alive, and an entry whose storage has gone is dropped at the next lookup.
//! - A live `Weak` keeps the `Arc`'s allocation, so an entry's address names one storage for as
//!   long as the entry exists.
//! - burn-flex writes a storage only through `Arc::make_mut` or `Arc::get_mut`. With a `Weak`
//!   outstanding, `get_mut` refuses (its callers then allocate), and `make_mut` moves the bytes
//!   to a new `Arc` (the tensor's only owner) or copies them (shared): either way the written
//!   storage is another allocation, which no entry names. So a kept packing always matches its
//!   storage's contents.
//! - The first product with a view only records it, so an activation, read once, costs a
//!   record and no packed copy. Under full fine-tuning each step's weights come from the
//!   optimiser in new storages, so they are recorded and never kept.
//! - Right operands under [`MIN_ELEMENTS`] pack cheaply and are not recorded.
//!
//! Memory: a kept packing takes 2 bytes per element, so a frozen weight kept in both of its
//! views takes as much as its f32 storage.

use alloc::sync::Arc;
#[cfg(feature = "std")]
use alloc::sync::Weak;
#[cfg(feature = "std")]
use alloc::vec::Vec;

use burn_std::Bytes;

use super::bf16_products::{Bf16Kernel, PackedRhs, Strided};

/// Right operands of fewer elements are packed at every product.
#[cfg(feature = "std")]
const MIN_ELEMENTS: usize = 1 << 16;

/// What a packing depends on besides the storage's contents.
#[cfg(feature = "std")]
#[derive(Clone, Copy, PartialEq, Eq)]
struct View {
    offset: usize,
    rs: isize,
    cs: isize,
    k: usize,
    n: usize,
    kernel: Bf16Kernel,
}

/// A storage read through a view: recorded at its first product, its packing kept from the
/// second.
#[cfg(feature = "std")]
struct Entry {
    storage: Weak<Bytes>,
    view: View,
    packed: Option<Arc<PackedRhs>>,
}

#[cfg(feature = "std")]
static ENTRIES: std::sync::Mutex<Vec<Entry>> = std::sync::Mutex::new(Vec::new());

/// The right operand `rhs: [k, n]` packed for `kernel`: the kept packing when `storage` has
/// one for this view, else packed now (and kept when this is the view's second product).
///
/// SAFETY: `rhs` must be `k × n` elements of `storage`, the first at element `offset`, at
/// `rhs`'s strides; the CPU must have AVX512-BF16, F and BW.
pub(crate) unsafe fn packed(
    storage: &Arc<Bytes>,
    offset: usize,
    kernel: Bf16Kernel,
    k: usize,
    n: usize,
    rhs: Strided,
) -> Arc<PackedRhs> {
    // SAFETY: as this function's.
    let pack = || Arc::new(unsafe { PackedRhs::new(kernel, k, n, rhs) });
    #[cfg(feature = "std")]
    {
        if k.saturating_mul(n) < MIN_ELEMENTS {
            return pack();
        }
        let view = View {
            offset,
            rs: rhs.rs,
            cs: rhs.cs,
            k,
            n,
            kernel,
        };
        let same = |e: &Entry| e.view == view && core::ptr::eq(e.storage.as_ptr(), &**storage);
        let lock = || {
            ENTRIES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let seen = {
            let mut entries = lock();
            entries.retain(|e| e.storage.strong_count() > 0);
            match entries.iter().find(|e| same(e)) {
                Some(Entry {
                    packed: Some(kept), ..
                }) => return kept.clone(),
                Some(_) => true,
                None => {
                    entries.push(Entry {
                        storage: Arc::downgrade(storage),
                        view,
                        packed: None,
                    });
                    false
                }
            }
        };
        let packed = pack();
        if seen && let Some(entry) = lock().iter_mut().find(|e| same(e)) {
            entry.packed.get_or_insert_with(|| packed.clone());
        }
        packed
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = (storage, offset);
        pack()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::FlexTensor;
    use burn_backend::TensorData;

    /// The packing of `tensor` (`[k, n]`, contiguous) through the cache, by `kernel`.
    fn through_cache(tensor: &FlexTensor, kernel: Bf16Kernel) -> Arc<PackedRhs> {
        let [k, n] = tensor.layout().shape().dims::<2>();
        let rhs = Strided {
            ptr: tensor.storage::<f32>().as_ptr(),
            rs: n as isize,
            cs: 1,
        };
        // SAFETY: the tensor's `k × n` elements, contiguous; the caller checked the CPU.
        unsafe { packed(tensor.shared_bytes(), 0, kernel, k, n, rhs) }
    }

    /// The packing of `tensor` made now, for comparison.
    fn fresh(tensor: &FlexTensor, kernel: Bf16Kernel) -> Vec<u32> {
        let [k, n] = tensor.layout().shape().dims::<2>();
        let rhs = Strided {
            ptr: tensor.storage::<f32>().as_ptr(),
            rs: n as isize,
            cs: 1,
        };
        // SAFETY: as above.
        unsafe { PackedRhs::new(kernel, k, n, rhs) }
            .lanes()
            .to_vec()
    }

    #[test]
    fn a_packing_is_kept_from_the_second_use_and_never_outlives_a_write() {
        let Some(kernel) = [Bf16Kernel::Amx, Bf16Kernel::Avx512Bf16]
            .into_iter()
            .find(|&k| super::super::bf16_products::bf16_kernel_supported(k))
        else {
            eprintln!("no bf16 kernel on this CPU: nothing to keep");
            return;
        };
        let (k, n) = (256, 384);
        let values: Vec<f32> = (0..k * n).map(|i| (i % 101) as f32 / 7.0 - 5.0).collect();
        let mut weight = FlexTensor::from_data(TensorData::new(values, [k, n]));

        let first = through_cache(&weight, kernel);
        let second = through_cache(&weight, kernel);
        let third = through_cache(&weight, kernel);
        assert!(!Arc::ptr_eq(&first, &second), "the first use only records");
        assert!(Arc::ptr_eq(&second, &third), "kept from the second use");
        assert_eq!(third.lanes(), fresh(&weight, kernel).as_slice());

        // A write in place (the tensor is the storage's only owner) moves it to a new `Arc`:
        // the kept packing is not used for it.
        weight.storage_mut::<f32>()[5] = 1000.0;
        let after = through_cache(&weight, kernel);
        assert!(!Arc::ptr_eq(&after, &third));
        assert_eq!(after.lanes(), fresh(&weight, kernel).as_slice());
        assert_ne!(
            after.lanes(),
            third.lanes(),
            "the write changed the packing"
        );

        // A shared storage written through one owner is copied; the other keeps the packing.
        let shared = weight.clone();
        through_cache(&shared, kernel);
        let kept = through_cache(&shared, kernel);
        weight.storage_mut::<f32>()[6] = -1000.0;
        assert!(Arc::ptr_eq(&through_cache(&shared, kernel), &kept));
        assert_eq!(
            through_cache(&weight, kernel).lanes(),
            fresh(&weight, kernel).as_slice()
        );

        // Nothing keeps a storage alive, and a dropped one's entries go at the next lookup.
        let address = Arc::as_ptr(shared.shared_bytes());
        drop(shared);
        through_cache(&weight, kernel);
        let entries = ENTRIES.lock().unwrap();
        assert!(entries.iter().all(|e| e.storage.as_ptr() != address));
    }
}
