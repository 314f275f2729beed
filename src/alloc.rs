//! The global allocator: mimalloc, asked the cheapest way that keeps Rust's alignment.
//!
//! `mimalloc::MiMalloc` sends every allocation through `mi_malloc_aligned`, whose alignment
//! checks cost about twenty instructions per call, and a sensor allocates a hundred times per
//! event. mimalloc's plain `mi_malloc(size)` already returns a block aligned to any power of
//! two up to 16 that is not larger than `size` (its "natural alignment",
//! `mi_malloc_is_naturally_aligned` in `alloc-aligned.c`), which is nearly every layout Rust
//! asks for; the others still go to the aligned calls. The same rule as `std`'s `System`.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use libmimalloc_sys as mi;

/// Largest alignment `mi_malloc` guarantees (`MI_MAX_ALIGN_SIZE`).
const NATURAL: usize = 16;

pub struct Alloc;

#[inline]
fn natural(align: usize, size: usize) -> bool {
    align <= NATURAL && align <= size
}

// SAFETY: every call forwards to mimalloc with a size and alignment the layout allows; the
// plain calls are used only where mimalloc guarantees the layout's alignment (see above), and
// `mi_free` / `mi_realloc*` accept any block mimalloc returned.
unsafe impl GlobalAlloc for Alloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if natural(layout.align(), layout.size()) {
            mi::mi_malloc(layout.size()) as *mut u8
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if natural(layout.align(), layout.size()) {
            mi::mi_zalloc(layout.size()) as *mut u8
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if natural(layout.align(), new_size) {
            mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block is aligned as its layout asks, through allocation, zeroing and growth.
    #[test]
    fn blocks_are_aligned_as_asked() {
        let a = Alloc;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1usize, 3, 8, 12, 16, 24, 40, 100, 1000, 70_000] {
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                // SAFETY: non-zero sizes; each block is freed once with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null() && p as usize % align == 0, "{size}/{align}");
                    p.write_bytes(0xa5, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert!(
                        !q.is_null() && q as usize % align == 0,
                        "grown {size}/{align}"
                    );
                    assert_eq!(*q, 0xa5);
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert!(z as usize % align == 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
