//! Boxes whose memory the thread keeps for the next value of its size: how the engine boxes
//! what it boxes per request (a handler's future, a middleware's, the connection's answer in
//! progress) without a heap allocation per request.
//!
//! A shard is one thread, and a request's boxed futures are made and dropped on it: a freed
//! block goes on the thread's free list for its size class (powers of two from 64 bytes to
//! 16 KiB) and the next box of that class takes it back — a `Vec` pop, no allocator call, no
//! lock, no atomic. Larger or over-aligned values, and blocks past a class's bound, go to the
//! global allocator as a `Box` would.
//!
//! Invariants: a block on a free list is owned by the list alone (no live value is in it) and
//! has exactly its class's layout; a box's value never moves while the box lives (so a box can
//! be pinned); each class keeps at most [`POOLED_BYTES_PER_CLASS_MAX`] bytes, so the memory a
//! burst leaves behind is bounded.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::ptr::NonNull;

use crate::limits::POOLED_BYTES_PER_CLASS_MAX;

/// The smallest class holds 64 bytes (`1 << 6`); each class is twice the one before.
const SMALLEST_CLASS_SHIFT: u32 = 6;
/// Classes from 64 bytes to 16 KiB: a connection's answer in progress is the largest value
/// boxed per request (a few KiB); anything larger is rare enough for the global allocator.
const CLASSES: usize = 9;
/// Every class block is aligned to this; a value that needs more is not pooled.
const CLASS_ALIGN: usize = 16;

/// A pooled box's future, pinned: what [`pin_future`] makes.
#[doc(hidden)]
pub type PooledFuture<'a, T> = Pin<PooledBox<dyn Future<Output = T> + 'a>>;

/// Boxes `future` in a pooled block and pins it.
pub(crate) fn pin_future<'a, F: Future + 'a>(future: F) -> PooledFuture<'a, F::Output> {
    let boxed = std::mem::ManuallyDrop::new(PooledBox::new(future));
    let erased: *mut (dyn Future<Output = F::Output> + 'a) = boxed.ptr.as_ptr();
    // SAFETY: the pointer is the box's own, non-null, and the new box takes over its ownership
    // (the old one is never dropped). The value never moves while a box owns it, so pinning
    // it is sound — as for `Box::pin`.
    unsafe {
        Pin::new_unchecked(PooledBox {
            ptr: NonNull::new_unchecked(erased),
            owns: PhantomData,
        })
    }
}

/// Like `Box<T>`, but its memory comes from, and goes back to, the thread's pool.
#[doc(hidden)]
pub struct PooledBox<T: ?Sized> {
    ptr: NonNull<T>,
    owns: PhantomData<T>,
}

impl<T> PooledBox<T> {
    /// Boxes the value `make` makes and pins it (it never moves while the box lives). The
    /// value is made straight into its block where the compiler can (`make` is inlined): a
    /// large future is not built on the stack and then copied.
    #[inline(always)]
    pub(crate) fn pin_with(make: impl FnOnce() -> T) -> Pin<Self> {
        let reserved = Reserved {
            block: take(Layout::new::<T>()),
            layout: Layout::new::<T>(),
        };
        let ptr = reserved.block.cast::<T>();
        // SAFETY: the block is unused and fits `T`'s layout (see `take`). Should `make` panic,
        // `reserved` gives the block back as it unwinds.
        unsafe { ptr.as_ptr().write(make()) };
        std::mem::forget(reserved);
        // SAFETY: the value stays in its block until the box drops it, as for `Box::pin`.
        unsafe {
            Pin::new_unchecked(PooledBox {
                ptr,
                owns: PhantomData,
            })
        }
    }

    pub(crate) fn new(value: T) -> Self {
        let ptr = take(Layout::new::<T>()).cast::<T>();
        // SAFETY: the block is unused and fits `T`'s layout (see `take`).
        unsafe { ptr.as_ptr().write(value) };
        PooledBox {
            ptr,
            owns: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for PooledBox<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the box owns a live value.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for PooledBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the box owns a live value, borrowed through `&mut self`.
        unsafe { self.ptr.as_mut() }
    }
}

/// The box is a pointer: moving it never moves the value, as for `Box`.
impl<T: ?Sized> Unpin for PooledBox<T> {}

impl<T: ?Sized> Drop for PooledBox<T> {
    fn drop(&mut self) {
        // SAFETY: the value is live until here; its layout is read before it is dropped, and
        // the block goes back exactly once.
        unsafe {
            let layout = Layout::for_value(self.ptr.as_ref());
            std::ptr::drop_in_place(self.ptr.as_ptr());
            give_back(self.ptr.cast::<u8>(), layout);
        }
    }
}

/// A block taken for a value not yet written into it: given back if the value is never made
/// (its maker panicked).
struct Reserved {
    block: NonNull<u8>,
    layout: Layout,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        // SAFETY: taken with this layout, and no value was written into it.
        unsafe { give_back(self.block, self.layout) };
    }
}

/// The thread's free blocks, by class.
struct FreeLists {
    classes: [Vec<NonNull<u8>>; CLASSES],
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for (class, blocks) in self.classes.iter_mut().enumerate() {
            for block in blocks.drain(..) {
                // SAFETY: a listed block was allocated with its class's layout and holds no value.
                unsafe { dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
    }
}

thread_local! {
    static FREE: RefCell<FreeLists> = const {
        RefCell::new(FreeLists { classes: [const { Vec::new() }; CLASSES] })
    };
}

/// The class a value of `layout` is pooled in, if any. Inlined with the callers below, so
/// that for a value of a known type it folds to a constant.
#[inline(always)]
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN {
        return None;
    }
    let size = layout
        .size()
        .max(1 << SMALLEST_CLASS_SHIFT)
        .next_power_of_two();
    let class = (size.trailing_zeros() - SMALLEST_CLASS_SHIFT) as usize;
    (class < CLASSES).then_some(class)
}

#[inline(always)]
fn class_layout(class: usize) -> Layout {
    Layout::from_size_align(1 << (SMALLEST_CLASS_SHIFT as usize + class), CLASS_ALIGN)
        .expect("class sizes are small powers of two")
}

/// How many free blocks a class keeps.
fn class_blocks_max(class: usize) -> usize {
    POOLED_BYTES_PER_CLASS_MAX >> (SMALLEST_CLASS_SHIFT as usize + class)
}

/// A block for a value of `layout`: a free one of its class, else a new one.
#[inline(always)]
fn take(layout: Layout) -> NonNull<u8> {
    if layout.size() == 0 {
        // Zero-sized values need no memory, only an aligned address.
        return NonNull::new(std::ptr::without_provenance_mut(layout.align()))
            .expect("an alignment is never zero");
    }
    let (class, block_layout) = match class_of(layout) {
        Some(class) => (Some(class), class_layout(class)),
        None => (None, layout),
    };
    if let Some(class) = class
        && let Ok(Some(block)) = FREE.try_with(|free| free.borrow_mut().classes[class].pop())
    {
        return block;
    }
    debug_assert!(
        block_layout.size() >= layout.size() && block_layout.align() >= layout.align(),
        "a block fits the value it is taken for"
    );
    // SAFETY: the layout has a non-zero size.
    NonNull::new(unsafe { alloc(block_layout) }).unwrap_or_else(|| handle_alloc_error(block_layout))
}

/// Returns the block a value of `layout` was in (the value already dropped).
///
/// # Safety
/// `block` came from `take(layout)` and holds no live value.
#[inline(always)]
unsafe fn give_back(block: NonNull<u8>, layout: Layout) {
    if layout.size() == 0 {
        return;
    }
    let Some(class) = class_of(layout) else {
        // SAFETY: allocated with exactly this layout by `take`.
        unsafe { dealloc(block.as_ptr(), layout) };
        return;
    };
    // At thread exit the free lists may be gone already: then the block is freed.
    let kept = FREE
        .try_with(|free| {
            let blocks = &mut free.borrow_mut().classes[class];
            let keep = blocks.len() < class_blocks_max(class);
            if keep {
                blocks.push(block);
            }
            keep
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: allocated with its class's layout by `take`.
        unsafe { dealloc(block.as_ptr(), class_layout(class)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn sizes_map_to_the_smallest_class_that_holds_them() {
        assert_eq!(class_of(Layout::new::<u8>()), Some(0));
        assert_eq!(class_of(Layout::new::<[u8; 64]>()), Some(0));
        assert_eq!(class_of(Layout::new::<[u8; 65]>()), Some(1));
        assert_eq!(class_of(Layout::new::<[u8; 16384]>()), Some(8));
        assert_eq!(class_of(Layout::new::<[u8; 16385]>()), None);
        #[repr(align(32))]
        struct OverAligned(#[allow(dead_code)] u8);
        assert_eq!(class_of(Layout::new::<OverAligned>()), None);
    }

    #[test]
    fn a_freed_block_is_reused_by_the_next_value_of_its_class() {
        let first = PooledBox::new([1u8; 100]);
        let address = first.ptr.as_ptr() as usize;
        drop(first);
        // 120 bytes is the same class (128) as 100.
        let second = PooledBox::new([2u8; 120]);
        assert_eq!(second.ptr.as_ptr() as usize, address);
        assert_eq!(*second, [2u8; 120]);
    }

    #[test]
    fn a_class_keeps_no_more_than_its_bound() {
        let class = class_of(Layout::new::<[u8; 16384]>()).expect("pooled");
        let boxes: Vec<_> = (0..class_blocks_max(class) + 5)
            .map(|_| PooledBox::new([0u8; 16384]))
            .collect();
        drop(boxes);
        let kept = FREE.with(|free| free.borrow().classes[class].len());
        assert_eq!(kept, class_blocks_max(class));
    }

    #[test]
    fn values_are_dropped_once_and_large_or_empty_ones_work() {
        let drops = Rc::new(Cell::new(0));
        struct Counted(Rc<Cell<u32>>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        drop(PooledBox::new(Counted(drops.clone())));
        drop(PooledBox::new(()));
        let large = PooledBox::new([7u8; 20_000]);
        assert_eq!(large[19_999], 7);
        drop(large);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_block_whose_value_panics_while_made_is_given_back() {
        let class = class_of(Layout::new::<[u8; 3000]>()).expect("pooled");
        let before = FREE.with(|free| free.borrow().classes[class].len());
        let made = std::panic::catch_unwind(|| {
            PooledBox::<[u8; 3000]>::pin_with(|| panic!("a maker that fails (expected)"))
        });
        assert!(made.is_err());
        assert_eq!(
            FREE.with(|free| free.borrow().classes[class].len()),
            before + 1
        );
    }

    #[test]
    fn a_pinned_future_runs_to_its_output() {
        let value = Rc::new(Cell::new(0));
        let seen = value.clone();
        let future = pin_future(async move {
            seen.set(5);
            6
        });
        let output = futures_lite::future::block_on(future);
        assert_eq!((value.get(), output), (5, 6));
    }
}
